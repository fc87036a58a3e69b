import streamlit as st

from fer.app import common
from fer.app import metrics as m
from fer.models.metrics_files import read_metrics_files

st.title("Metrics")
found = read_metrics_files(common.models_folder(), first=common.current_model().name)
for problem in found.problems:
    st.warning(f"Skipped {problem}")
cards = {card["model"]: card for card in found.cards}
if not cards:
    folder = common.models_folder()
    st.info((f"No readable metrics files in `{folder}`." if found.problems else f"No metrics files in `{folder}` yet.")
            + " `fer metrics` writes one beside each model (e.g. `weights/vgg10.json`).")
    st.stop()

st.subheader("Accuracy")
st.caption("FER2013 PublicTest chose the checkpoints; PrivateTest was only ever reported. "
           "Ten-crop averages the model over ten shifted and mirrored crops of each face.")
st.dataframe(m.accuracy_table(cards).style.format("{:.4f}"))
with st.expander("All summary scores"):
    st.dataframe(m.scores_table(cards).style.format(precision=4), hide_index=True)

try:
    runs = m.load_imbalance(common.IMBALANCE_FILE)
except m.ImbalanceFileError as e:
    st.warning(f"The class-imbalance comparison is not shown: {e}")
    runs = []
if runs:
    st.subheader("Training variants for the class imbalance")
    st.dataframe(m.imbalance_table(runs).style.format(precision=4), hide_index=True)

st.subheader("Details")
model = st.selectbox("Model", list(cards)) if len(cards) > 1 else next(iter(cards))
card = cards[model]
st.caption(f"`{model}`: {m.training_summary(card)}")
evaluations = {m.evaluation_name(e): e for e in card["evaluations"]}
names = list(evaluations)
default = next((n for n, e in evaluations.items() if e["split"] == "private" and e["tencrop"]), names[0])
e = evaluations[st.radio("Test set", names, index=names.index(default), horizontal=True)]

cols = st.columns(6)
for col, (key, label) in zip(cols, m.SCORES.items()):
    col.metric(label, f"{e[key]:.4f}")
left, right = st.columns(2)
left.altair_chart(m.confusion_heatmap(e, normalized=False), width="stretch")
right.altair_chart(m.confusion_heatmap(e, normalized=True), width="stretch")
st.markdown(f"**Per class** ({e['n']} test faces)")
st.dataframe(m.per_class_table(e).style.format({"precision": "{:.3f}", "recall": "{:.3f}", "f1": "{:.3f}",
                                                "auc": "{:.3f}", "support": "{:d}"}))

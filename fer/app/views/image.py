import json
from functools import partial
from pathlib import Path

import streamlit as st

from fer.app import common
from fer.io.images import encode_image
from fer.io.provenance import image_input, provenance

st.title("Image")
st.caption("Upload one or more pictures (JPG, PNG, WebP or BMP). Each face is boxed and labelled with the "
           "current settings; download the annotated picture and the results as JSON.")
files = st.file_uploader("Pictures", type=["jpg", "jpeg", "png", "webp", "bmp"], accept_multiple_files=True,
                         label_visibility="collapsed")
if not files:
    st.stop()

settings = common.current_settings()
class_names = common.recognizer().class_names
for upload in files:
    st.subheader(upload.name, divider="gray")
    with common.shown_as_error(f"{upload.name} could not be read"):
        shown, full, faces = common.annotate_picture(upload.getvalue(), upload.name, settings)
        records = faces.to_records()
        picture, results = st.columns([3, 2], gap="large")
        stem = Path(upload.name).stem
        if not records:
            picture.image(shown, caption="No face found")  # as read: upright, 8-bit RGB
            results.warning("No face was found. Faces should look roughly at the camera and fill at least "
                            f"{settings.min_face:.0%} of the picture's shorter side "
                            "(the minimum face size on the Settings page).")
        else:
            picture.image(shown)
            picture.download_button("Download annotated image", partial(encode_image, full, "png"),  # when clicked
                                    file_name=f"{stem}-fer.png", mime="image/png", on_click="ignore",
                                    key=f"png-{upload.file_id}", icon=":material/download:")
        # ``full`` is annotated at the picture's own size, so its shape is the picture's.
        header = provenance(common.recognizer().classifier, settings, [image_input(upload.name, *full.shape[1::-1])])
        results.download_button("Download results (JSON)",
                                json.dumps({"file": upload.name, "provenance": header, "faces": records}, indent=2),
                                file_name=f"{stem}-fer.json", mime="application/json", on_click="ignore",
                                key=f"json-{upload.file_id}", icon=":material/data_object:")
        for i, r in enumerate(records, 1):
            results.markdown(f"Face {i}: **{r['label']}** ({r['confidence']:.0%})")
            results.altair_chart(common.probability_chart(r, class_names), width="stretch")

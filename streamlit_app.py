"""The fer web app: `streamlit run streamlit_app.py`. The pages live in fer/app/views/."""

from fer.app.router import run

run()

"""The fer web app: `streamlit run streamlit_app.py`. The pages live in fer/app/pages/."""

from fer.app.router import run

run()

"""The Streamlit app: ``router`` lists the pages, ``pages/`` holds their thin layouts, and
the modules here (settings widgets, operator defaults, the live session, the booth view,
video jobs and batches, metrics tables) do the work over the engine in :mod:`fer`."""

"""Where a model comes from: data -> augment -> train -> evaluate -> export -> report.

``data`` reads FER2013 in any layout, ``augment``, ``sampling`` and ``losses`` feed the
loop in ``train``, ``evaluate`` scores model files with scikit-learn, ``export`` turns a
checkpoint into a model file (:mod:`fer.models.modelfile`) and ``report`` writes the
metrics files and the README table. ``study`` and ``ensemble`` compare and combine runs.

Nothing outside this package needs it to run a model: the runtime (:mod:`fer.engine`,
:mod:`fer.io`, the app) never imports from here.
"""

"""Where a frame goes: detect -> classify -> track -> draw, in one ``FramePipeline``.

``detect`` finds faces and cuts FER2013-style crops, ``crops`` turns them into network
input, ``classify`` runs the model file, ``track`` carries identities and smoothed
probabilities across frames, ``draw`` annotates, and ``pipeline`` is the per-frame
function every input path (webcam, image, video) shares. ``faces`` holds one frame's
results and ``settings`` the user's options.
"""

"""Files in and out around the engine: images, videos, per-face logs and batches of inputs."""

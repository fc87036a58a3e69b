"""How large a window BlazeFace's search near a known face needs.

Between full scans, a tracked stream looks for each face only in a window around where
it was (``BlazeFaceDetector.detect_near``): the window, ``1 + 2 * search_margin`` face
sides wide, is shown to the model at ``NEAR_INPUT`` pixels. A smaller input is cheaper
(the model's cost grows with its input's area) but shows the face at fewer pixels, and a
smaller margin shows it with less around it. This measures, per setting, on PublicTest
faces in ``fer robustness``'s photo-like scenes (every condition with a face):

* re-found: the face found again from a window around the full scan's box, moved by up
  to a fifth of a face side either way (a face moving between frames), as
  ``fer robustness`` matches faces;
* accuracy: re-found *and* given its FER2013 label, crops as the live path cuts them;
* milliseconds per scene of the near search (median; all windows of a scene in one pass).

Only PublicTest is used: this chooses a setting. ::

    python benchmarks/near_window.py --data ../shared/data/fer2013.tar.gz
    python benchmarks/near_window.py --data fer2013.tar.gz --faces 100 --windows 96:0.5 80:0.35 --json out.json
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def measure(data: str, faces: int, windows: list[tuple[int, float]], seed: int = 0) -> dict:
    import fer.engine.blazeface as blazeface
    from fer.engine.detect import crop_faces, to_gray, upright_turn
    from fer.recognizer import EmotionRecognizer
    from fer.robustness import MIN_FACE, match, scenes
    from fer.scenes import CONDITIONS, render
    from fer.training.evaluate import split_faces

    test_faces, labels = split_faces(data, "public", faces)
    classifier = EmotionRecognizer().classifier
    detector = blazeface.BlazeFaceDetector(min_face=MIN_FACE)
    rng = np.random.default_rng(seed)
    cases = []  # (condition, scene, placed faces, seed boxes, which faces were seeded, the scene's faces)
    for condition in (c for c in CONDITIONS if c.faces):
        for group in scenes(condition, len(test_faces)):
            image, placed = render([test_faces[i] for i in group], condition, seed=group[0])
            found = detector.detect(image)
            seeds, seeded = [], []
            for i, hit in zip(group, match(found.boxes, placed)):
                if hit is not None:
                    box = found.boxes[hit].astype(float)
                    shift = rng.uniform(-0.2, 0.2, 2) * (box[2] - box[0])
                    seeds.append(box + np.r_[shift, shift])
                    seeded.append(i)
            if seeds:
                cases.append((condition.name, image, placed, np.array(seeds), seeded, group))
    results = {}
    for side, margin in windows:
        blazeface.NEAR_INPUT, detector.search_margin = side, margin
        per: dict[str, list[int]] = {}
        ms = []
        for name, image, placed, seeds, seeded, group in cases:
            start = time.perf_counter()
            near = detector.detect_near(image, seeds)
            ms.append((time.perf_counter() - start) * 1000)
            crops = crop_faces(to_gray(image), near.boxes, classifier.face_size, fit=detector.crop,
                               angles=upright_turn(near.angles))
            predicted = classifier.predict_proba(crops).argmax(1) if len(crops) else []
            for i, hit in zip(group, match(near.boxes, placed)):
                if i in seeded:
                    counts = per.setdefault(name, [0, 0, 0])
                    counts[0] += 1
                    if hit is not None:
                        counts[1] += 1
                        counts[2] += int(predicted[hit] == labels[i])
        total = np.sum(list(per.values()), axis=0)
        results[f"{side}:{margin:g}"] = {
            "near_input": side, "search_margin": margin, "ms_median": round(float(np.median(ms)), 2),
            "refound": round(total[1] / total[0], 3), "accuracy": round(total[2] / total[0], 3),
            "by_condition": {name: {"faces": n, "refound": round(f / n, 3), "accuracy": round(c / n, 3)}
                             for name, (n, f, c) in per.items()}}
    return {"faces": len(test_faces), "split": "public", "seeded_faces": int(sum(len(c[4]) for c in cases)),
            "shift": "up to 0.2 face sides in x and y", "windows": results,
            "load_average_after": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="FER2013 directory, .tar.gz, .zip or fer2013.csv")
    parser.add_argument("--faces", type=int, default=100, help="PublicTest faces (default: 100)")
    parser.add_argument("--windows", nargs="+", default=["96:0.5", "80:0.35", "80:0.5", "64:0.2", "64:0.5"],
                        help="NEAR_INPUT:search_margin pairs (NEAR_INPUT a multiple of 16; default: the shipped "
                             "96:0.5 and smaller ones)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    windows = [(int(w.split(":")[0]), float(w.split(":")[1])) for w in args.windows]
    report = measure(args.data, args.faces, windows)
    for key, r in report["windows"].items():
        print(f"NEAR_INPUT:margin {key:>8}: re-found {r['refound']:.3f}, accuracy {r['accuracy']:.3f}, "
              f"{r['ms_median']:.1f} ms per scene")
    if args.json:
        from fer.training.evaluate import write_json

        write_json(report, args.json)


if __name__ == "__main__":
    main()

"""Candidate deltas shared by the online-agent tests."""


def _terms(*terms):
    return [
        {"signal": s, "weight": w, "transform": t, "param": p, "fill_missing": 0.0}
        for s, w, t, p in terms
    ]


#: A reward that trains on likes (which follow quality) instead of clicks (which clickbait
#: wins): on home_feed it raises active days by ~10% against the click-trained baseline.
BETTER = [
    {"op": "replace", "path": "/reward/terms", "value": _terms(("like", 1.0, "identity", None))}
]
#: A reward on log watch time, which clickbait wins (it is watched further).
HARMFUL = [
    {"op": "replace", "path": "/reward/terms", "value": _terms(("watch_time", 1.0, "log1p", None))},
    {"op": "replace", "path": "/reward/loss", "value": "mse"},
]
#: A delta that changes nothing (the baseline's learning rate is already 0.05).
IDENTICAL = [{"op": "replace", "path": "/optimizer/learning_rate", "value": 0.05}]

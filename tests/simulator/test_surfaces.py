import json

import pytest
from pydantic import ValidationError

from evorec.errors import ConfigError
from evorec.simulator.surfaces import SURFACES, Surface, get_surface


def test_three_builtin_surfaces_differ_in_population_corpus_slate_and_dynamics():
    assert {"home_feed", "watch_next", "shorts"} <= set(SURFACES)
    a, b, c = (SURFACES[n] for n in ("home_feed", "watch_next", "shorts"))
    for field in ("num_topics", "num_docs", "slate_size", "steps_per_day", "satisfaction_rate"):
        assert len({getattr(a, field), getattr(b, field), getattr(c, field)}) >= 2, field


def test_surface_from_json_and_yaml_files(tmp_path):
    (tmp_path / "mini.json").write_text(json.dumps({"num_docs": 50, "num_candidates": 20}))
    s = get_surface(tmp_path / "mini.json")
    assert s.name == "mini" and s.num_docs == 50 and s.slate_size == 5
    (tmp_path / "y.yaml").write_text("name: y\nslate_size: 2\nsteps_per_day: 3\n")
    assert get_surface(str(tmp_path / "y.yaml")).slate_size == 2


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ('{"num_docs": "many"}', "num_docs"),
        ('{"slate_size": 500}', "slate_size"),
        ('{"bogus_field": 1}', "bogus_field"),
        ('{"num_candidates": 2000}', "exceeds num_docs"),
        ("[1, 2]", "mapping"),
        ('{"return_slope": NaN}', "return_slope"),
    ],
)
def test_malformed_surface_file_is_a_clear_config_error(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        get_surface(path)


def test_unknown_surface_and_missing_file():
    with pytest.raises(ConfigError, match="unknown surface 'nope'.*home_feed"):
        get_surface("nope")
    with pytest.raises(ConfigError, match="not found"):
        get_surface("/does/not/exist.json")


def test_surfaces_are_frozen_and_strict():
    with pytest.raises(ValidationError):
        SURFACES["home_feed"].num_docs = 3  # type: ignore[misc]
    with pytest.raises(ConfigError):
        Surface.from_dict({"name": "x", "num_docs": 10.5})

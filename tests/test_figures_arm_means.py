"""Figures are drawn from the harmonized table: every study with data appears, nothing is invented."""

import pandas as pd

from livertrials.figures.arm_means import arm_level_points, draw_arm_means, mean_ci
from livertrials.figures.evidence_map import draw_evidence_map


def harmonized_frame():
    base = dict(collection="studies", is_contrast=False, quantity="level", kind="continuous", outcome="albumin",
                method="mean and SD as reported", timepoint_text="", flags=[[]])
    cells = dict(base, arm_role="intervention", intervention="bm_msc", intervention_class="cell_therapy")
    control = dict(base, arm_role="control", intervention="standard_care", intervention_class="control")
    rows = [
        dict(cells, study_id="S1", arm_id="cells", timepoint_days=0.0, mean=28.0, sd=3.0, n=20),
        dict(cells, study_id="S1", arm_id="cells", timepoint_days=84.0, mean=32.0, sd=3.0, n=20),
        dict(control, study_id="S1", arm_id="control", timepoint_days=84.0, mean=29.0, sd=3.0, n=20),
        dict(cells, study_id="S2", arm_id="cells", timepoint_days=None, mean=30.0, sd=3.0, n=20),
        dict(base, study_id="S3", arm_id="vs", arm_role="contrast", is_contrast=True, timepoint_days=28.0, mean=None,
             sd=None, n=40, intervention=None, intervention_class=None),
    ]
    return pd.DataFrame(rows)


def test_mean_ci_uses_t_quantile():
    frame = pd.DataFrame({"mean": [10.0], "sd": [2.0], "n": [10]})
    ci = mean_ci(frame)
    # t(0.975, 9) = 2.262157 (statistical tables)
    assert abs(ci["ci_high"].iloc[0] - (10 + 2.262157 * 2 / 10 ** 0.5)) < 1e-5


def test_only_arm_level_values_with_a_timepoint_are_plotted():
    points = arm_level_points(harmonized_frame(), "albumin")
    assert set(points["study_id"]) == {"S1"} and len(points) == 3


def test_figures_written_in_every_format(tmp_path, registry):
    frame = harmonized_frame()
    draw_arm_means(frame, "albumin", registry, tmp_path, ["png", "svg"])
    draw_evidence_map(frame, registry, tmp_path, ["png", "svg"])
    assert (tmp_path / "arm_means_albumin.png").stat().st_size > 1000
    svg = (tmp_path / "evidence_map.svg").read_text()
    assert all(s in svg for s in ("S1", "S2", "S3"))  # every study with data is on the map
    assert "S2" not in (tmp_path / "arm_means_albumin.svg").read_text()  # no stated timepoint: not drawn


def test_svg_is_reproducible(tmp_path, registry):
    frame = harmonized_frame()
    draw_arm_means(frame, "albumin", registry, tmp_path / "a", ["svg"])
    draw_arm_means(frame, "albumin", registry, tmp_path / "b", ["svg"])
    assert (tmp_path / "a" / "arm_means_albumin.svg").read_bytes() == (tmp_path / "b" / "arm_means_albumin.svg").read_bytes()


def test_two_worker_processes_write_the_same_figures(tmp_path, registry):
    from conftest import ROOT

    from livertrials.figures.arm_means import draw_all
    from livertrials.figures.files import in_processes

    assert in_processes(lambda i: i * i, 5, processes=2) == [0, 1, 4, 9, 16]   # results in task order
    harmonized_frame().to_parquet(tmp_path / "outcomes.parquet")
    registry_path = ROOT / "resources" / "registry" / "outcomes.yaml"
    for processes in (1, 2):
        draw_all(tmp_path / "outcomes.parquet", registry_path, ["albumin", "bilirubin"], ["png", "svg"],
                 tmp_path / str(processes), processes=processes)
    names = sorted(p.name for p in (tmp_path / "1").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "2").iterdir()) and len(names) == 6
    assert all((tmp_path / "1" / n).read_bytes() == (tmp_path / "2" / n).read_bytes() for n in names)

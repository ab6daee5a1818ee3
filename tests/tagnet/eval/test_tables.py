"""sweep_table: sign-flip p-values, Holm over the table, convergence marks, the seed-count note."""
import pytest

from tagnet.eval.tables import convergence, multiplicity_note, sweep_table

REF = [0.50, 0.52, 0.48, 0.55, 0.47, 0.51, 0.49, 0.53, 0.46, 0.50]
DIFFS = {
    "all up": [0.10, 0.12, 0.08, 0.11, 0.09, 0.10, 0.13, 0.07, 0.10, 0.11],   # p = 2/1024
    "all up, seed 3 unconverged": [0.05] * 10,                                # p = 2/1024
    "nine up": [0.1] * 7 + [-0.1] + [0.1] * 2,       # one of ten against: p = 2 (1 + 10) / 1024
    "balanced": [0.01, -0.01] * 5,                   # sum 0: p = 1
}


def _records():
    recs = [{"variant": "ref", "seed": s, "top1": v, "parameters": 7, "converged": True}
            for s, v in enumerate(REF)]
    for name, diffs in DIFFS.items():
        for s, (v, d) in enumerate(zip(REF, diffs, strict=True)):
            rec = {"variant": name, "seed": s, "top1": v + d, "parameters": 9, "converged": True}
            if name == "all up, seed 3 unconverged" and s == 3:
                rec["converged"] = False
            if name == "nine up" and s == 7:
                del rec["converged"]   # a run from before the flag
            recs.append(rec)
    return recs


def test_holm_over_the_tables_contrasts_and_convergence_marks():
    text, summary = sweep_table(_records(), [("top1", "top-1")], reference="ref")
    rows = {r["variant"]: r["top1"] for r in summary["rows"]}
    raw = {"all up": 2 / 1024, "all up, seed 3 unconverged": 2 / 1024, "nine up": 22 / 1024,
           "balanced": 1.0}
    assert {k: rows[k]["p"] for k in raw} == pytest.approx(raw, rel=1e-12)
    # Holm by hand, m = 4: 4 * 2/1024; max(that, 3 * 2/1024); max(., 2 * 22/1024); max(., 1)
    holm = {"all up": 8 / 1024, "all up, seed 3 unconverged": 8 / 1024, "nine up": 44 / 1024,
            "balanced": 1.0}
    assert {k: rows[k]["p_holm"] for k in holm} == pytest.approx(holm, rel=1e-12)
    assert summary["holm"] == {"alpha": 0.05, "contrasts": 4, "min_pairs": 10}
    assert [rows[k]["effect"] for k in raw] == [True, False, True, False]
    assert [rows[k]["survives"] for k in raw] == [True, True, True, False]

    lines = {line.split(" | ")[0].strip("| "): line for line in text.splitlines()[2:7]}
    assert "0.00195 (0.00781) effect |" in lines["all up"]
    # survives the correction, but a run did not converge: marked and never called an effect
    assert "0.00195 (0.00781) n.c.† |" in lines["all up, seed 3 unconverged †"]
    assert "0.0215 (0.043) effect‡ |" in lines["nine up ‡"]
    assert "1 (1) n.s. |" in lines["balanced"]
    assert "† not converged (`converged: false` in the run's record): all up, seed 3 " \
        "unconverged seed 3. A contrast with such a row (or reference) is never called an " \
        "effect" in text
    assert "‡ convergence unknown (records without `converged`, from runs made before the " \
        "flag): nine up seed 7." in text
    assert "Holm's correction over the 4 contrasts of this table (family-wise alpha 0.05). " \
        "With n = 10 paired seeds the smallest possible two-sided p is 2/2^10 = 0.00195." in text

    info = next(r for r in summary["rows"] if r["variant"] == "all up, seed 3 unconverged")
    assert (info["converged"], info["not_converged_seeds"]) == (False, [3])
    assert info["seeds"] == list(range(10))
    assert info["top1"]["values"] == pytest.approx([v + 0.05 for v in REF])


def test_an_unconverged_reference_taints_every_contrast():
    recs = _records()
    recs[0]["converged"] = False   # ref, seed 0
    _, summary = sweep_table(recs, [("top1", "top-1")], reference="ref")
    assert not any(r["top1"].get("effect") for r in summary["rows"])


def test_the_note_says_when_the_seed_count_rules_out_any_effect():
    recs = [r for r in _records() if r["seed"] < 5]
    text, summary = sweep_table(recs, [("top1", "top-1")], reference="ref")
    assert "With n = 5 paired seeds the smallest possible two-sided p is 2/2^5 = 0.0625, so no " \
        "contrast can reach p < 0.05 before or after any correction: at least 8 seeds are " \
        "needed." in text
    assert not any(r["top1"].get("effect") for r in summary["rows"])
    # 6 seeds reach 2/64 < 0.05 alone, but not once Holm multiplies by 4 contrasts
    assert multiplicity_note(4, [6, 6, 6, 6]).endswith(
        "Holm multiplies the smallest p by 4, so no contrast can be called an effect whatever "
        "the data: at least 8 seeds are needed.")
    assert "n = 4 to 6 paired seeds (the fewest counts)" in multiplicity_note(2, [6, 4])


def test_records_without_the_flag_are_unknown_and_said_once():
    recs = [{k: v for k, v in r.items() if k != "converged"} for r in _records()]
    text, summary = sweep_table(recs, [("top1", "top-1")], reference="ref")
    assert "convergence unknown for every run (records without `converged`" in text
    assert "‡" not in text and "†" not in text
    assert all(r["converged"] is None for r in summary["rows"])
    assert convergence({0: {"converged": True}, 1: {}}) == {
        "converged": None, "not_converged_seeds": [], "convergence_unknown_seeds": [1]}
    assert convergence({0: {"converged": True}, 1: {"converged": False}, 2: {}}) == {
        "converged": False, "not_converged_seeds": [1], "convergence_unknown_seeds": [2]}


def test_ceilings_get_a_column_and_a_run_above_its_ceiling_is_called_a_defect():
    recs = [{"variant": v, "seed": s, "top1": x, "converged": True}
            for v, xs in {"blind": [0.30, 0.375], "free": [0.9, 0.95]}.items()
            for s, x in enumerate(xs)]
    ceilings = {"blind": (0.375, "blind to frame order"), "free": (1.0, "")}
    text, summary = sweep_table(recs, [("top1", "top-1")], reference="free", ceilings=ceilings)
    header, _, blind, free = text.splitlines()[:4]
    assert [c.strip() for c in header.strip("| ").split(" | ")][:3] == \
        ["configuration", "top-1", "ceiling"]
    assert [c.strip() for c in blind.strip("| ").split(" | ")][1:3] == ["33.8 ± 5.3", "37.5"]
    assert "blind: blind to frame order" in text and "ABOVE" not in text  # 37.5 is allowed
    assert summary["rows"][0]["ceiling"] == 0.375
    recs[1]["top1"] = 0.40
    text, _ = sweep_table(recs, [("top1", "top-1")], reference="free", ceilings=ceilings)
    assert "ABOVE ITS CEILING, which construction rules out (a defect to find): blind seed 1 " \
        "(40.0 > 37.5)" in text

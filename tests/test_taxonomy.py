import json
import warnings

import pyarrow as pa
import pytest

from helpers import REPO
from spa_vl.taxonomy import (
    LEVELS,
    QUESTION_TYPES,
    LabelSpace,
    SpaVLWarning,
    canonical_question_type,
    parse_image_paths,
    reference_names,
    reference_paths,
)


def test_reference_counts_match_the_known_part_of_the_tree():
    assert len(reference_names("class1")) == 5
    assert len(reference_names("class2")) == 8
    assert len(reference_names("class3")) == 35
    assert len(reference_paths()) == 35
    assert "scamns" in reference_names("class3")  # the data's own spelling is kept
    assert "Representation & ToxicityHarms" in reference_names("class1")


def test_packaged_taxonomy_is_the_shared_reference():
    shared = REPO.parent / "shared" / "reference" / "taxonomy.json"
    if not shared.exists():
        pytest.skip("shared/reference is not beside this checkout")
    packaged = json.loads((REPO / "spa_vl" / "data" / "taxonomy.json").read_text())
    assert packaged == json.loads(shared.read_text())


def test_question_type_aliases():
    assert QUESTION_TYPES == ("easy", "hardq", "hards")
    assert canonical_question_type("hardd") == "hards"
    assert canonical_question_type("HardQ ") == "hardq"
    assert canonical_question_type("medium") is None


def test_parse_image_paths_takes_the_last_four_parts_and_never_invents():
    names = pa.array(
        [
            "Malicious Use/Security threats/weapon/3.jpg",
            "train/Privacy root/A/B/9.jpg",
            "170.jpg",
            None,
            "Socioeconomic Harms\\Risky financial practices\\gamble\\5.jpg",
        ]
    )
    parsed = parse_image_paths(names)
    assert parsed["class1"].to_pylist() == ["Malicious Use", "Privacy root", None, None, "Socioeconomic Harms"]
    assert parsed["class3"].to_pylist() == ["weapon", "B", None, None, "gamble"]


def test_label_space_appends_new_names_sorted_and_warns():
    with pytest.warns(SpaVLWarning, match="'zeta', 'alpha new'|'alpha new', 'zeta'"):
        space = LabelSpace.from_observed({"class3": ["zeta", "weapon", "alpha new", None]})
    names = space.names["class3"]
    assert names[:35] == tuple(reference_names("class3"))
    assert names[35:] == ("alpha new", "zeta")
    assert space.new == {"class3": ("alpha new", "zeta")}


def test_label_space_without_new_names_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        space = LabelSpace.from_observed({level: reference_names(level)[:2] for level in LEVELS})
    assert space == LabelSpace.reference()


def test_encode_maps_unknown_and_null_to_minus_one():
    space = LabelSpace.reference()
    ids = space.encode("class1", pa.array(["Malicious Use", None, "nope", "Socioeconomic Harms"]))
    assert ids.to_pylist() == [0, -1, -1, 3]
    assert space.encode("question_type", pa.array(["hards", "easy"])).to_pylist() == [2, 0]

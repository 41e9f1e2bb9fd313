import json
import warnings

import pyarrow as pa
import pytest
from helpers import REPO

from spa_vl.taxonomy import (
    LEVELS,
    QUESTION_TYPES,
    RESPONSE_MODELS,
    LabelSpace,
    SpaVLWarning,
    canonical_question_type,
    parent_of,
    parse_image_paths,
    reference_names,
    reference_paths,
    reference_tree,
    sizes_in_abstract,
    sizes_in_data,
)

# The 35 subcategories known before the taxonomy was completed, in their old id order: their
# ClassLabel ids must never move (exports and caches made earlier keep meaning the same labels).
OLD_CLASS3 = [
    "drug-related crimes", "environmental crimes", "financial crimes", "theft", "traffic and driving offenses",
    "biological and chemical harms", "weapon", "malware", "cyber", "academic dishonesty", "disinformation",
    "fake news", "financial fraud", "pseudo-pharmaceuticals", "rumors", "scamns", "spam information", "bully",
    "harass", "hate", "insult", "terrorism", "threaten", "violent", "ageism", "disablity discrimination",
    "geographical discrimination", "racial", "religion", "sexism", "physical harm", "gamble",
    "multi-level marketing", "paypal lending", "personal privacy",
]


def test_reference_counts_are_what_the_data_has():
    tree = reference_tree()
    assert {level: len(reference_names(level)) for level in LEVELS} == sizes_in_data() == {"class1": 6, "class2": 15, "class3": 53}
    assert sizes_in_abstract()["class2"] == 13  # what the abstract says; not what we assert of the data
    assert len(tree) == 6 and sum(len(c) for c in tree.values()) == 15 and len(reference_paths()) == 53
    for level in LEVELS:  # label_order is a permutation of the tree's names
        position = LEVELS.index(level)
        assert sorted(reference_names(level)) == sorted({p[position] for p in reference_paths()})
    for name in ("scamns", "disablity discrimination", "government secret"):  # the data's own spellings
        assert name in reference_names("class3")
    assert {"dangerous information", "false beliefs"} <= set(reference_names("class2"))


def test_old_ids_are_kept_and_the_new_names_follow():
    assert reference_names("class3")[:35] == OLD_CLASS3
    assert reference_names("class1")[5] == "Misinformation Harms"
    assert parent_of("class3")["government secret"] == "dangerous information"
    assert parent_of("class2")["false beliefs"] == "Misinformation Harms"


def test_response_models_are_the_twelve_keys():
    assert len(RESPONSE_MODELS) == 12 and len(set(RESPONSE_MODELS)) == 12
    assert {"gemini", "gemini_jb", "LLaVA1.5", "mPLUG-Owl", "LAMM_SFT"} <= set(RESPONSE_MODELS)


def test_packaged_taxonomy_is_the_shared_reference():
    shared = REPO.parent / "shared" / "reference" / "taxonomy.json"
    if not shared.exists():
        pytest.skip("shared/reference is not beside this checkout")
    packaged = json.loads((REPO / "spa_vl" / "data" / "taxonomy.json").read_text())
    reference = json.loads(shared.read_text())
    assert packaged["known"] == reference["known"]
    assert packaged["sizes_in_data"] == reference["sizes_in_data"]


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
    assert names[:53] == tuple(reference_names("class3"))
    assert names[53:] == ("alpha new", "zeta")
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

"""Reading an event's own names from a report's text (`worker.pipeline.names`): full names,
streets and addresses, people described by age and sex; and the names every report of a city
gives (its hospitals, county and state, the people quoted, the outlet's credits), which are
left out."""

from __future__ import annotations

from worker.pipeline.names import (
    fingerprint,
    full_names,
    headline_case,
    name_words,
    shared_victims,
    split_streets,
    split_victims,
    victim_marks,
)


def test_fingerprint_keeps_full_names_as_pairs_even_at_a_sentence_start() -> None:
    names = fingerprint("Dana Quill, 19, was shot outside the Lantern Tavern. Officer Ray Vole said so.")
    assert {"dana quill", "lantern tavern", "quill", "lantern", "tavern"} <= names
    assert "ray vole" not in names  # a quoted officer speaks about many events
    assert full_names(names) == {"dana quill", "lantern tavern"}


def test_fingerprint_pairs_skip_stock_words() -> None:
    names = fingerprint("Call Crime Stoppers about the shooting near Main Street on Monday.")
    assert not full_names(names)


def test_people_quoted_about_an_event_are_not_its_names() -> None:
    text = (
        "The two men were found on Quarry Lane, Police Officer Dana Pellworth said Sunday. "
        "Later Pellworth said that Ferris Oakhurst had been shot. Sgt. Lu Marbeck added little."
    )
    names = fingerprint(text)
    assert {"quarry", "ferris", "oakhurst", "ferris oakhurst"} <= names
    assert "lane" not in names  # a street type, like "street", names no event
    assert not {n for w in names for n in w.split()} & {"dana", "pellworth", "lu", "marbeck"}


def test_fingerprint_leaves_out_the_city_s_hospitals_county_and_state() -> None:
    text = (
        "ELMVALE, Ind. (WXYZ) Ona Brisk was taken to Saint Corvel Hospital and later to Pellan "
        "Regional Medical Center in Tamsin Heights. The Marrow County coroner said Brisk died. "
        "Officers from Danfield, Mass., helped."
    )
    names = fingerprint(text)
    assert {"ona brisk", "brisk"} <= names
    assert not names & {"corvel", "pellan", "regional", "tamsin", "heights", "marrow", "ind", "mass", "elmvale", "wxyz"}


def test_a_short_name_ending_a_sentence_is_no_abbreviated_state() -> None:
    names = fingerprint("Police named the dead as Ona Brisk, Tal Vero. The Elmvale, Ind. police asked for help.")
    assert {"vero", "tal vero"} <= names
    assert "ind" not in names


def test_a_state_written_after_a_place_is_no_name_by_any_of_its_forms() -> None:
    # The geoparser's state forms: AP abbreviations, full names, postal codes; the state's name
    # elsewhere in the text goes with them.
    text = (
        "Ona Brisk of Elmvale, Ind. Was shot on Friday. Indiana troopers and officers from Danfield, "
        "California, and Marlow, TX helped Tal Vero."
    )
    names = fingerprint(text)
    assert {"ona brisk", "tal vero"} <= names
    assert not names & {"ind", "indiana", "indiana troopers", "california", "texas"}


def test_fingerprint_skips_the_outlet_s_web_address_and_company_words() -> None:
    text = "Dana Quill was shot on Tuesday. Check back on ElmValleyNews.com for more. Copyright Brightcast Broadcasting, Inc."
    names = fingerprint(text)
    assert "dana quill" in names
    assert not {"elmvalleynews", "broadcasting", "inc", "brightcast broadcasting"} & names


def test_fingerprint_skips_an_outlet_s_copyright_notice_and_a_wire_story_s_credits() -> None:
    # Two stories of one outlet about two shootings share the owner in the notice and the
    # staff in the credits: no names of either event.
    text = (
        "Dana Quill was shot on Tuesday near the Lantern Tavern.\n"
        "(Reporting by Jo Bloggs in Elmwood; Editing by Ann Other)\n"
        "Copyright 2021 WXYZ (Marlow Media Corporation). All rights reserved. Tal Verrow was arrested."
    )
    names = fingerprint(text)
    assert {"dana quill", "lantern tavern", "tal verrow"} <= names
    assert not {"bloggs", "jo bloggs", "elmwood", "ann other", "marlow", "marlow media", "corporation"} & names


def test_the_sections_an_outlet_names_in_its_titles_are_no_names() -> None:
    # Two stations' titles about two shootings in two states: only the sections are shared.
    one = fingerprint("Man arrested after drive-by - WXYZ - Channel 9 / Elmvale News, Weather, Sports")
    two = fingerprint("Mother mourns her son - KQRS Harrow News Weather & Sports")
    assert not {"weather", "sports"} & (one | two)


def test_headline_case_titles_give_no_names() -> None:
    assert headline_case("Man Shot Dead Near Elmvale Park, Police Say")
    assert not headline_case("Man shot dead near Elmvale Park, police say")


def test_a_street_corner_is_one_name_however_it_is_told() -> None:
    corners = [
        "Shots were fired near the intersection of Corvel and Tamsin around six.",
        "A man was found at Tamsin and Corvel streets.",
        "Two were hurt at 9th and Corvel on Sunday.",
    ]
    names = [fingerprint(t) for t in corners]
    assert "corvel tamsin" in names[0] & names[1] and "9th corvel" in names[2]
    # People and a count of homicides are no corners.
    assert full_names(fingerprint("Officers said Ona Brisk and Tal Verrow ran.")) == {
        "ona brisk",
        "tal verrow",
    }
    assert not full_names(fingerprint("They are the 12th and 13th homicides of the year."))


def test_victim_descriptors_read_age_and_sex_from_common_news_phrasings() -> None:
    cases = {
        "A six-year-old Elmvale boy was hurt in his yard.": {"#6m"},
        "Girl, 11, dies after a shooting on Corvel Road": {"#11f"},
        "a man, 27, was taken to hospital": {"#27m"},
        "An 11- and 12-year-old boy died; a 14-year-old girl was hurt.": {"#11m", "#12m", "#14f"},
        "An uncle mourns the victims, ages 11 and 12": {"#11", "#12"},
        "The 14-year-old was pronounced dead.": {"#14"},
        "A 17-year-old high school student was wounded.": {"#17"},
    }
    for text, marks in cases.items():
        assert victim_marks(text) == marks, text
    # Things have ages too; a range or a named person's age is no descriptor of the victim.
    assert not victim_marks("The 50-year-old house burned. The wounded are ages 21 to 40, 21-40 years old.")
    assert not victim_marks("The children were between 5 and 12 years old, the wounded between ages 20 and 35.")
    assert victim_marks("Both 19-year-old males were shot; a 3-year-old dead") == {"#19m", "#3"}
    assert not victim_marks("Ona Brisk, 44, was arrested.")


def test_a_text_describing_many_people_by_age_gives_no_descriptors() -> None:
    roundup = "A 16-year-old boy, a 17-year-old boy, a man, 25, a woman, 31, and a 40-year-old man were shot."
    assert not victim_marks(roundup)


def test_shared_victims_match_ages_whose_sexes_do_not_disagree() -> None:
    assert shared_victims({"#7f", "#30m"}, {"#7", "#31m"}) == {"#7"}
    assert not shared_victims({"#7f"}, {"#7m"})


def test_street_and_victim_entries_split_from_the_plain_names() -> None:
    names = fingerprint("Dana Quill, 7, was shot on Corvel Avenue.") | victim_marks("A 7-year-old girl was shot.")
    plain, streets = split_streets(names)
    assert "corvel" in plain and streets == {"corvel"}
    rest, victims = split_victims(plain)
    assert victims == {"#7f"} and "dana quill" in rest and not any(n.startswith("#") for n in rest)


def test_name_words_fold_a_place_name_as_the_names_are() -> None:
    # Stock words and short words are no distinctive part of a place's name.
    assert name_words("North Élmvale City") == {"elmvale"}
    assert name_words("Elm Grove") == {"elm", "grove"}

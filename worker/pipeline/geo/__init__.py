"""The geoparser: place names in a document -> ranked gazetteer entries -> the event's place.

Mordecai-style steps, each its own function with its own tests (:mod:`.geoparse`):

    spans       gazetteer longest-match scan (``extract.gazetteer``), minus non-places
                (:func:`~.geoparse.non_place`: titles + names, streets and blocks, buildings
                and businesses, months and weekdays)
    context     :func:`~.geoparse.document_context`: the countries, provinces and states the
                text names (names, demonyms, abbreviations such as "N.C." or "Calif."), the
                states of the big cities it names (:func:`~.geoparse.home_states`), the
                dateline, and the places that resolve without doubt
    ranking     :func:`~.geoparse.rank`: every candidate of a span, scored with features of
                the candidate and the document; a scored list, best first, so a wrong answer
                is debugged by reading the scores
    event       :func:`~.geoparse.event_place`: which of the resolved places the event
                happened at (the most precise place the text supports, not the dateline)

The index behind the spans (GeoNames cities500 with alternate names, GeoNames populated
places of any population, admin1 and admin2 units with GeoNames codes) is built once and
cached (``extract.gazetteer``).
"""

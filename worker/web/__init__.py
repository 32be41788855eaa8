"""The analyst's web window (``wirewatch web``): server-rendered pages over the store.

    server.serve(settings, host, port)   checks the bind and credentials, runs uvicorn
    app.create_app(settings, ...)        the FastAPI application (pages, .json twins, Atom, API)
    security                             credentials, CSRF, Content-Security-Policy, safe links
    views                                page helpers: filters from the query string, evidence marks
    atom                                 the Atom feed of new and updated incidents

Every page has a machine-readable twin (the same URL with ``.json``; the incidents list also
``.geojson`` and ``.atom``), filters live in the query string, and the queries are the store's
(:mod:`worker.store.browse`, :mod:`worker.store.export`). Templates escape everything; nothing
an article brings is marked safe, and only http(s) URLs become links.
"""

"""What the console and the JSON API read: query functions taking the user's :class:`~bangfu.scope.Scope`.

Each returns plain data (or None for something outside the scope, which the web answers 404),
built on the same report functions ``bangfu report`` uses, so a page, its JSON and a report
never disagree.
"""

"""The demo county: its catalogue, scenario, demo shops and logins, and the summary ``bangfu demo`` prints.

Content, not machinery: nothing outside the demo, its tests and the benches imports from here.
"""

"""Bangfu Hub (帮扶销售中台): where every yuan of a consumption-assistance sale went."""

__version__ = "0.1.0"

"""The parsers' own error: a page that cannot become an item says why, it never returns half an item."""


class ParseError(ValueError):
    """The page is not a digest (or a listing) this project can read; the message says what is missing."""

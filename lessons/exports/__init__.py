"""Writing lessons out: the lossless archive and its restore, CSV and Markdown made safe.

`archive` writes the whole JSON archive (and the lessons as CSV) a chunk at a
time from the rows `entries` reads; `restore` loads an archive back; `cells`
and `markdown` keep spreadsheets and wikis from running what users typed.
"""

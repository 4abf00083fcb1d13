"""The lessons-learned domain: models, the services that write them, import and export.

Knows nothing of Flask or FAISS.
"""

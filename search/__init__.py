"""Semantic search: embeddings, the FAISS index kept in step with the database, hybrid retrieval.

Depends on `lessons`, never on `web`.
"""

"""Recorded bags through the node's own frame pipeline: replay, reports, synthetic bags."""

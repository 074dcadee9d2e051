"""12345 hotline knowledge-base channel: one question-and-answer entry per policy or interpretation, kept in step
with the publication (created on publish, updated on revision, withdrawn on retraction or 失效/废止).

Contract: deploy/hotline/openapi.yaml. Everything the rest of govcast needs is `SPEC` in channel.py.
"""

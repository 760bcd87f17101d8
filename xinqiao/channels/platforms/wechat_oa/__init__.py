"""WeChat Official Account (微信公众号): ``client.py`` (HTTP only) and ``sandbox.py`` (the local fake server).

Contract: /work/shared/platforms/wechat-oa.md.
"""

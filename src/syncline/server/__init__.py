"""The syncline server: the store of every user's folders and the HTTP protocol of docs/protocol.md.

A layer beside ``syncline.services`` (neither imports the other), over ``syncline.engine``. It alone
uses the server frameworks (Starlette, uvicorn, SQLAlchemy, argon2); the layering contracts in
pyproject.toml keep it so. See docs/design.md, "The server and the daemon".
"""

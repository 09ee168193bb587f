"""The Tron worker (routing workflows) and the Runner worker (Func code)."""

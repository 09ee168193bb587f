"""What Func authors import from the top-level package; a change here is a
change to the contract in the README."""

import funcatron_wf


def test_public_exports() -> None:
    assert sorted(funcatron_wf.__all__) == [
        "FuncatronError",
        "HTTPError",
        "Response",
        "__version__",
        "forward",
    ]
    assert issubclass(funcatron_wf.HTTPError, funcatron_wf.FuncatronError)


def test_http_error_names_its_status() -> None:
    error = funcatron_wf.HTTPError(404, "no pet 7")
    assert (error.status, error.title, error.detail) == (404, "Not Found", "no pet 7")

"""Links to a list with its filters already applied (dashboard to-do items, cross-screen buttons)."""

from flask import current_app, url_for


def _view(endpoint: str):
    for admin in current_app.extensions["admin"]:
        for view in admin._views:
            if view.endpoint == endpoint:
                return view
    raise LookupError(endpoint)


def filtered_list_url(endpoint: str, *filters) -> str:
    """URL of ``endpoint``'s list with ``filters`` applied: each a (column key, filter class, value) triple.

    The filter is found among the view's own filters (by column key and class), so the link follows the view
    when its filters are reordered.
    """
    view = _view(endpoint)
    args = {}
    for position, (key, kind, value) in enumerate(filters):
        for index, flt in enumerate(view._filters or ()):
            if isinstance(flt, kind) and getattr(flt.column, "key", None) == key:
                args[f"flt{position}_{view.get_filter_arg(index, flt)}"] = value
                break
        else:
            raise LookupError(f"{endpoint}: no {kind.__name__} on {key}")
    return url_for(f"{view.endpoint}.index_view", **args)

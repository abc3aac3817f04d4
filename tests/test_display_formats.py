"""The fast formatters print exactly what the library calls they replace (a date, a time in the agency's zone,
money, a list URL's arguments): every list row and every list link goes through them."""

from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal
from hypothesis import given
from hypothesis import strategies as st

from admin_views.flask_admin_compat import _query_string
from admin_views.formatting import br_datetime
from models.display import br_date, brl

ZONES = st.sampled_from(["America/Sao_Paulo", "America/Manaus", "America/Noronha", "America/Rio_Branco"])


@given(st.dates(min_value=date(1000, 1, 1)))
def test_br_date_is_day_month_year(value):
    assert br_date(value) == value.strftime("%d/%m/%Y")


@given(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1)), ZONES)
def test_br_datetime_is_the_agencys_wall_time(value, zone):
    local = value.replace(tzinfo=UTC).astimezone(ZoneInfo(zone))
    assert br_datetime(value, zone) == local.strftime("%d/%m/%Y %H:%M")


@given(st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2))
def test_brl_is_babels_pt_br_money(value):
    assert brl(value) == f"R$ {format_decimal(value, format='#,##0.00', locale='pt_BR')}"


VALUES = st.one_of(st.none(), st.integers(), st.booleans(), st.text(max_size=12))


@given(st.lists(st.tuples(st.sampled_from(["page", "sort", "desc", "search", "page_size", "flt0_status", "a b", "ç"]),
                          VALUES), max_size=8))
def test_list_url_arguments_are_urlencoded_as_url_for_does(items):
    expected = urlencode([item for item in items if item[1] is not None], safe="!$'()*,/:;?@")
    assert _query_string(items) == expected

%% @doc Invoice lines (the `billing.InvoiceLine` terms the engine returns)
%% as the JSON objects tally publishes. Quantities stay exact: a fraction is
%% written "N" or "N/D"; the amount is an integer of minor units.
-module(tally_invoice).

-export([to_json/1, key/1, customer/1, currency/1, amount/1]).

-type line() :: tuple().

-spec to_json(line()) -> binary().
to_json({invoice_line, Key, Customer, Resource, Meter, Measure, Period, Version, Plan, Currency, Unit,
         Used, Included, Overage, UnitPrice, Amount}) ->
    iolist_to_binary(tally_json:encode(
        #{<<"key">> => Key, <<"customer">> => Customer, <<"resource">> => Resource, <<"meter">> => Meter,
          <<"measure">> => atom_to_binary(Measure), <<"period">> => Period, <<"version">> => Version,
          <<"plan">> => Plan, <<"currency">> => Currency, <<"unit">> => unit(Unit),
          <<"used">> => fraction(Used), <<"included">> => fraction(Included),
          <<"overage">> => fraction(Overage), <<"unit_price">> => fraction(UnitPrice),
          <<"amount_minor">> => Amount})).

-spec key(line()) -> binary().
key(Line) -> element(2, Line).

-spec customer(line()) -> binary().
customer(Line) -> element(3, Line).

-spec currency(line()) -> binary().
currency(Line) -> element(10, Line).

-spec amount(line()) -> integer().
amount(Line) -> element(16, Line).

unit(plain_unit) -> <<"unit">>;
unit(gigabyte) -> <<"GB">>;
unit(megabit_per_second) -> <<"Mbps">>.

fraction({fraction, N, 1}) -> integer_to_binary(N);
fraction({fraction, N, D}) -> <<(integer_to_binary(N))/binary, "/", (integer_to_binary(D))/binary>>.

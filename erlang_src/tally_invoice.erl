%% @doc Invoice lines (the `billing.InvoiceLine` terms the engine returns)
%% in the one written form tally publishes: the same bytes as the Rust
%% core's `tally_core::written::invoice_line_json`, which `tally bill`
%% prints (README, "The written form"). One JSON object, keys in byte
%% order, no spaces; quantities exact strings (decimal digits when the
%% value has a finite decimal expansion, else "N/D"); `amount_minor` a
%% string of digits; `version` a number.
-module(tally_invoice).

-export([to_json/1, quantity/1, key/1, customer/1, currency/1, amount/1, written/1]).
-export([msg_id/1, msg_id/2, schema/0, void_to_json/3]).

-type customer_total() :: #{currency := binary(), amount_minor := integer(), lines := pos_integer()}.
-type written() :: #{lines := [{MsgId :: binary(), Json :: binary()}],
                     customers := #{binary() => customer_total()},
                     unbilled := [binary()]}.
-export_type([written/0]).

-type line() :: tuple().

-spec to_json(line()) -> binary().
to_json({invoice_line, Key, Customer, Resource, Meter, Measure, Period, Version, Plan, Currency, Unit,
         Used, Included, Overage, UnitPrice, Amount}) ->
    iolist_to_binary(
      [<<"{\"amount_minor\":\"">>, integer_to_binary(Amount),
       <<"\",\"currency\":">>, string(Currency),
       <<",\"customer\":">>, string(Customer),
       <<",\"included\":\"">>, quantity(Included),
       <<"\",\"key\":">>, string(Key),
       <<",\"measure\":\"">>, atom_to_binary(Measure),
       <<"\",\"meter\":">>, string(Meter),
       <<",\"overage\":\"">>, quantity(Overage),
       <<"\",\"period\":">>, string(Period),
       <<",\"plan\":">>, string(Plan),
       <<",\"resource\":">>, string(Resource),
       <<",\"unit\":\"">>, unit(Unit),
       <<"\",\"unit_price\":\"">>, quantity(UnitPrice),
       <<"\",\"used\":\"">>, quantity(Used),
       <<"\",\"version\":">>, integer_to_binary(Version), $}]).

%% A void: the line `Key` of an earlier version is gone from version
%% `Version`. Its customer, resource, meter, measure and period are the
%% key's parts, decoded. The same conventions as a line: keys in byte
%% order, no spaces.
-spec void_to_json(binary(), [binary()], non_neg_integer()) -> binary().
void_to_json(Key, [Customer, Resource, Meter, Measure, Period], Version) ->
    iolist_to_binary(
      [<<"{\"customer\":">>, string(Customer),
       <<",\"key\":">>, string(Key),
       <<",\"measure\":">>, string(Measure),
       <<",\"meter\":">>, string(Meter),
       <<",\"period\":">>, string(Period),
       <<",\"resource\":">>, string(Resource),
       <<",\"version\":">>, integer_to_binary(Version),
       <<",\"void\":true}">>]).

%% What a line (or a void) is published under: its key and version,
%% `KEY/vVERSION` (unambiguous: a key's parts never hold a bare `/`). The
%% stream's duplicate window, the outbox's memory and the file sink work on
%% it, so a reissue is never taken for a copy of the earlier version.
-spec msg_id(line()) -> binary().
msg_id(Line) -> msg_id(element(2, Line), element(8, Line)).

-spec msg_id(binary(), non_neg_integer()) -> binary().
msg_id(Key, Version) -> <<Key/binary, "/v", (integer_to_binary(Version))/binary>>.

%% The `Tally-Schema` header: the JSON Schema a message follows
%% (contract/invoice_line.v1.schema.json).
-spec schema() -> binary().
schema() -> <<"invoice_line.v1">>.

%% An exact quantity's text: "12", "0.00000049", or "1/3" when the
%% fraction has no finite decimal expansion (the twin of Rust's
%% `Ratio::to_exact`).
-spec quantity({fraction, non_neg_integer(), pos_integer()}) -> binary().
quantity({fraction, N, D}) ->
    G = gcd(N, D),
    quantity(N div G, D div G).

quantity(N, 1) ->
    integer_to_binary(N);
quantity(N, D) ->
    {Twos, Rest2} = strip(D, 2, 0),
    {Fives, Rest} = strip(Rest2, 5, 0),
    case Rest of
        1 ->
            %% D = 2^Twos 5^Fives has max(Twos, Fives) decimals: the remainder
            %% times 10^Places / D, which is a power of 5 or of 2 alone. A
            %% reduced fraction's last decimal is never 0.
            Places = max(Twos, Fives),
            R = N rem D,
            Frac = case Twos >= Fives of
                       true -> R * pow(5, Twos - Fives);
                       false -> R bsl (Fives - Twos)
                   end,
            Text = integer_to_binary(Frac),
            Zeros = binary:copy(<<"0">>, Places - byte_size(Text)),
            <<(integer_to_binary(N div D))/binary, $., Zeros/binary, Text/binary>>;
        _ ->
            <<(integer_to_binary(N))/binary, $/, (integer_to_binary(D))/binary>>
    end.

strip(D, P, K) when D rem P =:= 0 -> strip(D div P, P, K + 1);
strip(D, _P, K) -> {K, D}.

pow(_B, 0) -> 1;
pow(B, E) when E rem 2 =:= 0 -> X = pow(B, E div 2), X * X;
pow(B, E) -> B * pow(B, E - 1).

gcd(A, 0) -> A;
gcd(A, B) -> gcd(B, A rem B).

%% A JSON string, escaped as the Rust twin does: \" \\ \n \r \t, and
%% \u00xx (lowercase hex) for the other control bytes. Most strings have
%% none of those: one binary:match finds that out.
string(Bin) ->
    case binary:match(Bin, special()) of
        nomatch -> [$", Bin, $"];
        _ -> [$", escape(Bin, Bin, 0, 0, []), $"]
    end.

special() ->
    case persistent_term:get({?MODULE, special}, none) of
        none ->
            P = binary:compile_pattern([<<"\"">>, <<"\\">> | [<<C>> || C <- lists:seq(0, 31)]]),
            persistent_term:put({?MODULE, special}, P),
            P;
        P ->
            P
    end.

escape(Orig, <<C, Rest/binary>>, Start, Len, Acc) when C < 16#20; C =:= $"; C =:= $\\ ->
    Esc = case C of
              $" -> <<"\\\"">>;
              $\\ -> <<"\\\\">>;
              $\n -> <<"\\n">>;
              $\r -> <<"\\r">>;
              $\t -> <<"\\t">>;
              _ -> <<"\\u00", (hex(C bsr 4)), (hex(C band 15))>>
          end,
    escape(Orig, Rest, Start + Len + 1, 0, [Esc, binary:part(Orig, Start, Len) | Acc]);
escape(Orig, <<_, Rest/binary>>, Start, Len, Acc) ->
    escape(Orig, Rest, Start, Len + 1, Acc);
escape(Orig, <<>>, Start, Len, []) when Start =:= 0, Len =:= byte_size(Orig) ->
    Orig;
escape(Orig, <<>>, Start, Len, Acc) ->
    lists:reverse([binary:part(Orig, Start, Len) | Acc]).

hex(N) when N < 10 -> $0 + N;
hex(N) -> $a + N - 10.

%% An invoice in the written form, with each customer's total: what a
%% shard hands the closer (made in the shard, so the shards format their
%% lines at once, and only keys and text travel). A line goes under its
%% key and version (`msg_id/1`).
-spec written({invoice, [line()], [binary()]}) -> written().
written({invoice, Lines, Unbilled}) ->
    Customers = lists:foldl(
                  fun(L, Acc) ->
                          C = customer(L),
                          A = amount(L),
                          case Acc of
                              #{C := #{amount_minor := Sum, lines := N} = T} ->
                                  Acc#{C := T#{amount_minor := Sum + A, lines := N + 1}};
                              _ ->
                                  Acc#{C => #{currency => currency(L), amount_minor => A, lines => 1}}
                          end
                  end, #{}, Lines),
    #{lines => [{msg_id(L), to_json(L)} || L <- Lines], customers => Customers, unbilled => Unbilled}.

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

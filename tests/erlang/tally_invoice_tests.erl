%% The written form of an invoice line on the BEAM (tally_invoice) against
%% the Rust core's (tally_core::written): the same line gives the same bytes
%% (this line is the one native/core/src/written.rs tests), and quantities
%% are exact.
-module(tally_invoice_tests).
-include_lib("eunit/include/eunit.hrl").

the_same_bytes_as_the_rust_core_test() ->
    Line = {invoice_line, <<"acme/*/bandwidth_out_bytes/total/2026-10">>, <<"acme">>, <<"*">>,
            <<"bandwidth_out_bytes">>, total, <<"2026-10">>, 1, <<"pro">>, <<"EUR">>, gigabyte,
            {fraction, 1, 3}, {fraction, 0, 1}, {fraction, 1, 3}, {fraction, 49, 100000000}, (1 bsl 60) + 1},
    ?assertEqual(<<"{\"amount_minor\":\"1152921504606846977\",\"currency\":\"EUR\",\"customer\":\"acme\","
                   "\"included\":\"0\",\"key\":\"acme/*/bandwidth_out_bytes/total/2026-10\",\"measure\":\"total\","
                   "\"meter\":\"bandwidth_out_bytes\",\"overage\":\"1/3\",\"period\":\"2026-10\",\"plan\":\"pro\","
                   "\"resource\":\"*\",\"unit\":\"GB\",\"unit_price\":\"0.00000049\",\"used\":\"1/3\",\"version\":1}">>,
                 tally_invoice:to_json(Line)).

strings_are_escaped_like_the_rust_core_test() ->
    Line = {invoice_line, <<"a\"b\\c\nd", 1, "é"/utf8, 127>>, <<"c">>, <<"*">>, <<"m">>, peak, <<"2026-10">>, 2,
            <<"p">>, <<"EUR">>, plain_unit, {fraction, 0, 1}, {fraction, 0, 1}, {fraction, 0, 1}, {fraction, 0, 1}, 0},
    {match, [Key]} = re:run(tally_invoice:to_json(Line), "\"key\":(\"[^,]*\"),", [{capture, all_but_first, binary}]),
    ?assertEqual(<<"\"a\\\"b\\\\c\\nd\\u0001", "é"/utf8, 127, "\"">>, Key),
    {ok, Decoded} = tally_json:decode(tally_invoice:to_json(Line)),
    ?assertEqual(<<"a\"b\\c\nd", 1, "é"/utf8, 127>>, maps:get(<<"key">>, Decoded)).

quantities_are_exact_test() ->
    Q = fun(N, D) -> tally_invoice:quantity({fraction, N, D}) end,
    ?assertEqual(<<"12">>, Q(12, 1)),
    ?assertEqual(<<"0">>, Q(0, 1)),
    ?assertEqual(<<"2.3">>, Q(23, 10)),
    ?assertEqual(<<"0.00000049">>, Q(49, 100000000)),
    ?assertEqual(<<"1/3">>, Q(1, 3)),
    ?assertEqual(<<"7/6">>, Q(7, 6)),
    ?assertEqual(<<"2.5">>, Q(10, 4)),  % reduced first
    ?assertEqual(<<"0.000000000931322574615478515625">>, Q(1, 1 bsl 30)),
    %% The Rust test's value near 2^127, where u128 arithmetic must not overflow.
    ?assertEqual(<<"0.5000000000000000000000000000000000000058774717541114375398436826861112283890933277838604376075437585313920862972736358642578125">>,
                 Q((1 bsl 126) bor 1, 1 bsl 127)),
    %% Every decimal read back is the same fraction.
    [begin
         Text = Q(N, D),
         [Int, Frac] = case binary:split(Text, <<".">>) of [I] -> [I, <<>>]; Parts -> Parts end,
         Scale = round(math:pow(10, byte_size(Frac))),
         Num = binary_to_integer(<<Int/binary, Frac/binary>>),
         ?assertEqual(Num * D, N * Scale)
     end || {N, D} <- [{1, 8}, {3, 40}, {999, 1000}, {5, 2}, {123456789, 1 bsl 20}]].

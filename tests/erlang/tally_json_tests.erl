-module(tally_json_tests).
-include_lib("eunit/include/eunit.hrl").

round_trip_test() ->
    V = #{<<"a">> => [1, -2, 3.5, true, false, null], <<"s">> => <<"quote \" slash \\ nl \n é"/utf8>>,
          <<"o">> => #{}, <<"l">> => []},
    ?assertEqual({ok, V}, tally_json:decode(iolist_to_binary(tally_json:encode(V)))).

encoding_is_canonical_test() ->
    ?assertEqual(<<"{\"a\":1,\"b\":[true,null],\"c\":\"\\u0001\"}">>,
                 iolist_to_binary(tally_json:encode(#{<<"c">> => <<1>>, <<"b">> => [true, null], <<"a">> => 1}))).

decodes_what_servers_send_test() ->
    ?assertEqual({ok, #{<<"stream">> => <<"INVOICES">>, <<"seq">> => 12, <<"duplicate">> => true}},
                 tally_json:decode(<<" {\"stream\":\"INVOICES\", \"seq\":12,\"duplicate\":true}\r\n">>)),
    ?assertEqual({ok, [1.0e3, 25.0, <<"\x{1F600}"/utf8>>, <<"/">>]},
                 tally_json:decode(<<"[1e3, 2.5E1, \"\\ud83d\\ude00\", \"\\/\"]">>)).

errors_say_where_and_why_test() ->
    ?assertEqual({error, {5, <<"a value">>}}, tally_json:decode(<<"{\"a\":}">>)),
    ?assertEqual({error, {7, <<"',' or '}'">>}}, tally_json:decode(<<"{\"a\":1 \"b\":2}">>)),
    ?assertEqual({error, {2, <<"text after the value">>}}, tally_json:decode(<<"1 2">>)),
    ?assertEqual({error, {4, <<"a closed UTF-8 string">>}}, tally_json:decode(<<"\"abc">>)),
    ?assertEqual({error, {0, <<"a value">>}}, tally_json:decode(<<"nope">>)).

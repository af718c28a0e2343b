%% The Erlang twin of the reject's written form gives the bytes the Rust
%% writer's tests expect (native/core/src/written.rs), and every reason
%% kind has its named fields and its text.
-module(tally_reject_tests).
-include_lib("eunit/include/eunit.hrl").

json(Source, File, Reject) -> iolist_to_binary(tally_reject:json(Source, File, Reject)).

a_reject_is_one_object_with_its_reason_named_and_as_text_test() ->
    ?assertEqual(<<"{\"file\":\"in/s3.log\",\"format\":\"s3_access_log\",\"line\":3,"
                   "\"message\":\"expected 18 fields, found 2\",\"offset\":120,"
                   "\"reason\":{\"expected_fields\":18,\"found_fields\":2,\"kind\":\"wrong_field_count\"},"
                   "\"source\":\"s3\",\"text\":\"a \\\"b\\\"\",\"text_base64\":false}">>,
                 json(<<"s3">>, "in/s3.log", {reject, s3_access_log, 3, 120, {wrong_field_count, 18, 2},
                                              <<"a \"b\"">>})).

a_line_that_is_not_utf8_is_kept_in_base64_with_its_flag_test() ->
    ?assertEqual(<<"{\"file\":\"e.jsonl\",\"format\":\"json_lines\",\"line\":1,"
                   "\"message\":\"invalid UTF-8 at column 9\",\"offset\":0,"
                   "\"reason\":{\"column\":9,\"kind\":\"invalid_utf8\"},\"source\":\"edge\","
                   "\"text\":\"eyJpZCI6Iv8ifQ==\",\"text_base64\":true}">>,
                 json(<<"edge">>, <<"e.jsonl">>, {reject, json_lines, 1, 0, {invalid_utf8, 9},
                                                  <<"{\"id\":\"", 16#ff, "\"}">>})).

%% Every kind: an object whose fields keep one JSON type, and a text.
every_kind_has_named_fields_and_a_text_test() ->
    Reasons = [{bad_field, <<"time">>, 5, <<"[">>}, {duplicate_key, <<"subject">>},
               {disagree, <<"time">>, <<"epoch">>}, {invalid_json, 7, <<"a value">>},
               {malformed, 3, <<"','">>}, {invalid_utf8, 2}, {missing_field, <<"id">>},
               {wrong_type, <<"id">>, <<"a string">>}, {empty_field, <<"id">>},
               {invalid_time, <<"time">>}, {invalid_number, <<"bytes">>},
               {number_too_large, <<"bytes">>}, {line_too_long, 2000000, 1048576},
               {wrong_field_count, 4, 3}, bad_header],
    lists:foreach(
      fun(R) ->
              {ok, M} = tally_json:decode(json(<<"s">>, <<"f">>, {reject, json_lines, 1, 0, R, <<"x">>})),
              #{<<"reason">> := Reason, <<"message">> := Text} = M,
              ?assert(is_binary(maps:get(<<"kind">>, Reason))),
              ?assert(byte_size(Text) > 0),
              [?assert(is_binary(V)) || {K, V} <- maps:to_list(Reason),
                                        lists:member(K, [<<"field">>, <<"expected">>, <<"other">>])],
              [?assert(is_integer(V)) || {K, V} <- maps:to_list(Reason),
                                         lists:member(K, [<<"column">>, <<"length">>, <<"limit">>,
                                                          <<"expected_fields">>, <<"found_fields">>])],
              ?assertEqual(tuple_size(R) - 1 + 1, map_size(Reason))
      end, [R || R <- Reasons, is_tuple(R)]),
    ?assertEqual(<<"line of 2000000 bytes is over the limit of 1048576">>,
                 tally_reject:message({line_too_long, 2000000, 1048576})).

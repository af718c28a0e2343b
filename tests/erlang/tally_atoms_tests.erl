%% The port's atom vocabulary: a VM that never loaded the NIF (so never
%% saw the engine's atoms) decodes every kind of port reply with [safe].
%% tally_atoms is generated from the types' atoms (make generate); that
%% every atom of real replies is in it is checked in Rust
%% (tally_core::operations, every_atom_a_reply_holds_is_in_the_vocabulary).
-module(tally_atoms_tests).
-include_lib("eunit/include/eunit.hrl").

port_replies_decode_in_a_vm_without_the_nif_test_() ->
    {timeout, 60, fun port_replies_decode_in_a_vm_without_the_nif/0}.

port_replies_decode_in_a_vm_without_the_nif() ->
    Ebin = filename:dirname(code:which(tally_port)),
    Out = os:cmd(os:find_executable("erl") ++ " -noshell -pa " ++ Ebin ++ " -eval '" ++ vm_script() ++ "' 2>&1"),
    ?assertEqual("ok nif_loaded=false", string:trim(Out)).

%% Requests whose replies hold records, rejects, invoice lines and errors.
%% The script names none of the replies' atoms itself: writing them here
%% would create them and hide a missing one.
vm_script() ->
    Line = "{\\\"id\\\":\\\"e1\\\",\\\"source\\\":\\\"s\\\",\\\"subject\\\":\\\"acme\\\","
           "\\\"time\\\":\\\"2026-10-01T00:00:00Z\\\",\\\"data\\\":{\\\"resource\\\":\\\"r\\\","
           "\\\"meter\\\":\\\"requests\\\",\\\"value\\\":20}}",
    Plans = "{\\\"plans\\\": {\\\"std\\\": {\\\"currency\\\": \\\"EUR\\\", \\\"lines\\\": [{\\\"meter\\\": \\\"requests\\\","
            " \\\"measure\\\": \\\"total\\\", \\\"pricing\\\": {\\\"model\\\": \\\"flat\\\", \\\"unit_price\\\": \\\"1\\\"}}]}},"
            " \\\"customers\\\": {\\\"acme\\\": \\\"std\\\"}}",
    lists:flatten(
      ["{ok, R} = tally_port:start_supervised(#{}), ",
       "Opts = {parser_options, 1048576, none, bucket_owner, true}, ",
       "Cfg = {aggregator_config, hour, true, [], [], [], 172800000}, ",
       "{ok, A} = tally_port:call(R, aggregator_new, {Cfg}), ",
       "{ok, P} = tally_port:call(R, parser_new, {json_lines, Opts}), ",
       "{ok, _} = tally_port:call(R, aggregator_feed, {A, P, <<\"", Line, "\\n{bad\\n\">>}), ",
       "{ok, _} = tally_port:call(R, aggregator_windows, {A}), ",
       "{ok, _} = tally_port:call(R, parse_chunk, {storage_csv, Opts, <<\"a,b\\nx\\n\">>}), ",
       "{ok, _} = tally_port:call(R, parse_chunk, {s3_access_log, Opts, <<\"x y\\n\">>}), ",
       "{ok, _} = tally_port:call(R, parse_chunk, {rgw_usage, Opts, <<\"{\\\"entries\\\": 1}\">>}), ",
       "{ok, _} = tally_port:call(R, aggregator_close_period, {A, <<\"2026-10\">>, <<\"", Plans, "\">>, 1}), ",
       "{error, _} = tally_port:call(R, aggregator_close_period, {A, <<\"2026-11\">>, <<\"{}\">>, 1}), ",
       "{ok, _} = tally_port:call(R, engine_info, {}), ",
       "io:format(\"ok nif_loaded=~p~n\", [code:is_loaded(tally_nif) =/= false]), halt()."]).

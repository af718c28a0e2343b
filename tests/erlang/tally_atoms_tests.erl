%% The port's atom vocabulary: every atom the Rust encoders name is in
%% tally_atoms:all(), and a VM that never loaded the NIF (so never saw
%% those atoms) decodes every kind of port reply with [safe].
-module(tally_atoms_tests).
-include_lib("eunit/include/eunit.hrl").

%% The sources that turn Rust values into Gleam-shaped terms.
-define(ENCODERS, ["native/core/src/gleam_shapes.rs", "native/core/src/reject.rs",
                   "native/interop/src/value.rs", "native/interop/src/panics.rs",
                   "native/interop/src/lib.rs", "native/port/src/ops.rs"]).

every_encoded_atom_is_listed_test() ->
    Named = lists:usort(lists:append([atoms_named(F) || F <- ?ENCODERS])),
    ?assert(length(Named) > 25),  % the scan found the hand-written encoders' atoms (derived types' atoms: tally_core gleam_shapes tests)
    ?assertEqual([], [A || A <- Named, not lists:member(binary_to_atom(A), tally_atoms:all())]).

%% Literals written where an atom is made: Atom("x"), record("x", ..),
%% match arms `=> "x"` (the enums' names) and port_error("x", ..).
atoms_named(File) ->
    {ok, Text} = file:read_file(File),
    Re = "(?:Atom\\(|record\\(\\s*|=>\\s*|port_error\\(|else \\{ |if \\w+ \\{ )\"([a-z][a-z0-9_]*)\"",
    case re:run(Text, Re, [global, {capture, all_but_first, binary}]) of
        {match, Found} -> [A || [A] <- Found];
        nomatch -> []
    end.

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

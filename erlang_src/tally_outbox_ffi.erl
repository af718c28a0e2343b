%% @doc The byte and file helpers of the outbox and the closer
%% (gleam_src/tally/app): JSON string escaping, key digests, the batch files'
%% term format, directory listing and syncing. The Gleam subset tally compiles
%% with leaves bit syntax and the file module to Erlang; nothing here decides
%% anything (tally/app/outbox_book and tally/app/close_plan do).
-module(tally_outbox_ffi).

-export([lines_items/2, first_line/1, encode_whole/2, split_lines/1, lines/1, key_of/1, is_term/1]).
-export([key_parts/1, split_slash/1, safe_name/1, digest/1, digests/1, digests_among/2, encode_items/1, decode_stored/1,
         encode_keys/1, decode_keys/1, read_file/1, sync_dir/1, closed_text/1, read_closed/1, now_ms/0, log_unknown/2,
         read_to_end/0, printed/1]).
-export([item_keys/1]).

-type item() :: {item, binary(), binary(), binary()}.

%% A key's `/`-separated parts, each percent-decoded (billing::line_key
%% encodes them).
-spec key_parts(binary()) -> [binary()].
key_parts(Key) ->
    [decode(P, <<>>) || P <- binary:split(Key, <<"/">>, [global])].

decode(<<"%", H, L, Rest/binary>>, Acc) ->
    case catch binary_to_integer(<<H, L>>, 16) of
        N when is_integer(N) -> decode(Rest, <<Acc/binary, N>>);
        _ -> decode(<<H, L, Rest/binary>>, <<Acc/binary, "%">>)
    end;
decode(<<C, Rest/binary>>, Acc) -> decode(Rest, <<Acc/binary, C>>);
decode(<<>>, Acc) -> Acc.

%% A key's `/`-separated fields, as they are.
-spec split_slash(binary()) -> [binary()].
split_slash(Key) -> binary:split(Key, <<"/">>, [global]).

%% A file name from key text: bytes other than ASCII letters, digits, `-`
%% and `_` become `_` (a name never escapes its directory).
-spec safe_name(binary()) -> binary().
safe_name(Bin) ->
    << <<(case C of
              _ when C >= $a, C =< $z; C >= $A, C =< $Z; C >= $0, C =< $9; C =:= $-; C =:= $_ -> C;
              _ -> $_
          end)>> || <<C>> <= Bin >>.

%% What the outbox remembers of an acknowledged key: the first 16 bytes of
%% its SHA-256.
-spec digest(binary()) -> binary().
digest(Key) ->
    <<D:16/binary, _/binary>> = crypto:hash(sha256, Key),
    D.

%% The digests in an `acked` file, as a set; a crash mid-append may leave a
%% partial digest at the end: ignored.
-spec digests(binary()) -> #{binary() => true}.
digests(Bin) ->
    Whole = byte_size(Bin) - byte_size(Bin) rem 16,
    maps:from_keys([D || <<D:16/binary>> <= binary:part(Bin, 0, Whole)], true).

%% Of the Wanted digests, those in an `acked` file's bytes: a scan that
%% holds no more than Wanted, however large the file (a restart checks its
%% oldest batch's keys against the whole memory of a period).
-spec digests_among(binary(), #{binary() => true}) -> #{binary() => true}.
digests_among(_Bin, Wanted) when map_size(Wanted) =:= 0 -> #{};
digests_among(Bin, Wanted) -> among(Bin, Wanted, #{}).

among(<<D:16/binary, Rest/binary>>, Wanted, Found) ->
    case is_map_key(D, Wanted) of
        true -> among(Rest, Wanted, Found#{D => true});
        false -> among(Rest, Wanted, Found)
    end;
among(_Partial, _Wanted, Found) ->
    Found.

%% A batch file's bytes: the items as `[{Key, Subject, Payload}]` in the
%% external term format (the format the Erlang outbox wrote, so an outbox
%% directory survives the upgrade).
-spec encode_items([item()]) -> binary().
encode_items(Items) ->
    term_to_binary([{K, S, P} || {item, K, S, P} <- Items]).

%% The engine's batch of lines (billing.WrittenBatch): Count ids and as
%% many lines, a newline after each.
-type written_batch() :: tally_values:written_batch().

%% Its items: each id with the same line.
-spec lines_items(binary(), written_batch()) -> [item()].
lines_items(Subject, Batch) ->
    lists:zipwith(fun(K, P) -> {item, K, Subject, P} end,
                  binary:split(tally_values:written_batch_ids(Batch), <<"\n">>, [global, trim_all]),
                  binary:split(tally_values:written_batch_lines(Batch), <<"\n">>, [global, trim_all])).

%% The lines of a text with a newline after each.
-spec split_lines(binary()) -> [binary()].
split_lines(Text) -> binary:split(Text, <<"\n">>, [global, trim_all]).

%% The item keys of a file sink's lines (tally/app/sink_file.seen_keys): a
%% line in the written form (a flat object whose key has no escape) is read
%% with a few binary searches; any other line goes through the JSON scanner
%% (sink_file.line_key), which took 70 us a line: 17 s to reopen a period's
%% 248k lines.
-spec item_keys(binary()) -> [binary()].
item_keys(Bin) ->
    P = patterns(),
    lists:filtermap(fun(Line) -> line_item_key(Line, P) end,
                    binary:split(Bin, binary:compile_pattern(<<"\n">>), [global, trim_all])).

%% The searches, compiled once for a file's lines.
patterns() ->
    #{open => binary:compile_pattern(<<"{">>),
      key => binary:compile_pattern(<<"\"key\":\"">>),
      quote => binary:compile_pattern(<<"\"">>),
      backslash => binary:compile_pattern(<<"\\">>),
      version => binary:compile_pattern(<<"\"version\":">>)}.

line_item_key(Line, P) ->
    case flat_key(Line, P) of
        {ok, Key} -> {true, Key};
        other ->
            case 'tally@app@sink_file':line_key(Line) of
                {ok, Key} -> {true, Key};
                {error, nil} -> false
            end
    end.

%% Flat: no object opens after the first byte, so the key member found is
%% the line's own (tally's lines are flat: contract/invoice_line.v1).
flat_key(<<"{", _/binary>> = Line, P) ->
    Size = byte_size(Line),
    case binary:last(Line) =:= $} andalso binary:match(Line, maps:get(open, P), [{scope, {1, Size - 1}}]) of
        nomatch -> flat_members(Line, P);
        _ -> other
    end;
flat_key(_, _) ->
    other.

flat_members(Line, P) ->
    case binary:matches(Line, maps:get(key, P)) of
        [{At, Len}] ->
            From = At + Len,
            case binary:match(Line, maps:get(quote, P), [{scope, {From, byte_size(Line) - From}}]) of
                {To, 1} ->
                    Key = binary:part(Line, From, To - From),
                    case binary:match(Key, maps:get(backslash, P)) of
                        nomatch -> with_version(Line, Key, P);
                        _ -> other
                    end;
                nomatch -> other
            end;
        _ -> other
    end.

%% KEY/vVERSION when the line has an integer version (tally/app/written
%% msg_id), else the key.
with_version(Line, Key, P) ->
    case binary:matches(Line, maps:get(version, P)) of
        [] ->
            {ok, Key};
        [{At, Len}] ->
            case digits(binary:part(Line, At + Len, byte_size(Line) - At - Len), <<>>) of
                {ok, Version} -> {ok, <<Key/binary, "/v", Version/binary>>};
                other -> other
            end;
        _ -> other
    end.

%% A JSON integer's digits up to the member's end (no leading zero, no
%% fraction or exponent).
digits(<<C, Rest/binary>>, Acc) when C >= $0, C =< $9 -> digits(Rest, <<Acc/binary, C>>);
digits(<<C, _/binary>>, Acc) when (C =:= $, orelse C =:= $}), Acc =/= <<>> ->
    case Acc of
        <<"0", _, _/binary>> -> other;
        _ -> {ok, Acc}
    end;
digits(_, _) ->
    other.

%% Texts as lines, a newline after each.
-spec lines([binary()]) -> binary().
lines(Texts) -> iolist_to_binary([[T, $\n] || T <- Texts]).

%% A message id's key: what comes before its last `/`.
%% Searched from the end: the version after it is a few bytes, the key
%% before it has five parts (a reissue takes apart millions of ids).
-spec key_of(binary()) -> binary().
key_of(Id) -> key_before(Id, byte_size(Id) - 1).

key_before(Id, At) when At < 0 -> Id;
key_before(Id, At) ->
    case binary:at(Id, At) of
        $/ -> binary:part(Id, 0, At);
        _ -> key_before(Id, At - 1)
    end.

%% Whether bytes are in the external term format (a record's earlier form).
-spec is_term(binary()) -> boolean().
is_term(<<131, _/binary>>) -> true;
is_term(_) -> false.

-spec first_line(binary()) -> binary().
first_line(Bin) ->
    case binary:match(Bin, <<"\n">>) of
        {At, 1} -> binary:part(Bin, 0, At);
        nomatch -> Bin
    end.

%% A batch file holding the engine's batch as it is: {written, Subject,
%% Batch} in the external term format, as iodata that refers to the
%% batch's binaries instead of copying them (the bytes term_to_binary
%% gives: a close's copies were as large as its lines).
-spec encode_whole(binary(), written_batch()) -> iodata().
encode_whole(Subject, Batch) -> term_to_iovec({written, Subject, Batch}).

%% What a batch file holds (tally/app/outbox_book.Stored): its items, or
%% the engine's batch as it is.
-spec decode_stored(binary()) ->
          {ok, {stored_items, [item()]} | {stored_lines, binary(), written_batch()}} | {error, nil}.
decode_stored(Bin) ->
    try binary_to_term(Bin, [safe]) of
        {written, S, B} when is_binary(S) ->
            case tally_values:is_written_batch(B) of
                true -> {ok, {stored_lines, S, B}};
                false -> {error, nil}
            end;
        List when is_list(List) ->
            case lists:all(fun valid/1, List) of
                true -> {ok, {stored_items, [{item, K, S, P} || {K, S, P} <- List]}};
                false -> {error, nil}
            end;
        _ -> {error, nil}
    catch
        error:badarg -> {error, nil}
    end.

valid({K, S, P}) -> is_binary(K) andalso is_binary(S) andalso is_binary(P);
valid(_) -> false.

%% A set of keys (the keys a period issued) in the external term format, as
%% the Erlang closer wrote it: a map Key => true.
-spec encode_keys(#{binary() => true}) -> binary().
encode_keys(Keys) -> term_to_binary(Keys).

-spec decode_keys(binary()) -> {ok, #{binary() => true}} | {error, nil}.
decode_keys(Bin) ->
    try binary_to_term(Bin, [safe]) of
        Map when is_map(Map) -> {ok, Map};
        _ -> {error, nil}
    catch
        error:badarg -> {error, nil}
    end.

%% A file's bytes, or the POSIX name of the error.
-spec read_file(binary()) -> {ok, binary()} | {error, binary()}.
read_file(Path) ->
    case file:read_file(Path) of
        {ok, Bin} -> {ok, Bin};
        {error, Reason} -> {error, reason(Reason)}
    end.

%% A rename is durable once its directory is synced.
-spec sync_dir(binary()) -> {ok, nil} | {error, binary()}.
sync_dir(Dir) ->
    case prim_file:open(Dir, [read, directory]) of
        {ok, F} ->
            R = prim_file:sync(F),
            _ = prim_file:close(F),
            case R of
                ok -> {ok, nil};
                {error, Reason} -> {error, reason(Reason)}
            end;
        {error, Reason} ->
            {error, reason(Reason)}
    end.

%% The closed periods' record, `closed.term`: an Erlang term (as the Erlang
%% closer wrote it), read with file:consult.
-spec closed_text([binary()]) -> binary().
closed_text(Periods) -> iolist_to_binary(io_lib:format("~p.~n", [Periods])).

%% The periods, or why not: the POSIX name of a read error ("enoent"), or
%% what is wrong with the text.
-spec read_closed(binary()) -> {ok, [binary()]} | {error, binary()}.
read_closed(Path) ->
    case file:consult(Path) of
        {ok, [List]} when is_list(List) ->
            case lists:all(fun is_binary/1, List) of
                true -> {ok, List};
                false -> {error, <<"not a list of periods">>}
            end;
        {ok, _} -> {error, <<"not a list of periods">>};
        {error, Reason} when is_atom(Reason) -> {error, atom_to_binary(Reason)};
        {error, Reason} -> {error, unicode:characters_to_binary(file:format_error(Reason))}
    end.

%% Files named like batches the outbox cannot read by name: left alone,
%% said once at start.
-spec log_unknown(binary(), [binary()]) -> nil.
log_unknown(Dir, Names) ->
    logger:warning(#{msg => "outbox: files not named SEQ-COUNT.batch left alone", dir => Dir, files => Names}),
    nil.

%% The pipeline's sources read to their end (before a close).
-spec read_to_end() -> {ok, nil} | {error, term()}.
read_to_end() ->
    'tally@app@operations':read_to_end().

%% A foreign reason (an engine's, a shard's) as text, for a log line.
-spec printed(term()) -> binary().
printed(Term) -> unicode:characters_to_binary(io_lib:format("~0p", [Term])).

-spec now_ms() -> integer().
now_ms() -> erlang:system_time(millisecond).

reason(Reason) when is_atom(Reason) -> atom_to_binary(Reason);
reason(Reason) -> unicode:characters_to_binary(io_lib:format("~0p", [Reason])).

%% @doc What a reissue replaces. A consumer keeps, per key, the line of the
%% highest version; so a new version of a period (`invoice_version`) needs
%% to say nothing about the lines it has again, but must say which lines of
%% earlier versions are gone (a customer now without a plan, a resource
%% without usage): for each such key it publishes a void of the new version
%% (`tally_invoice:void_to_json/3`, its fields the key's decoded parts).
%%
%% For that the keys a period ever issued are kept in
%% `data_dir/issued/PERIOD`: a text file of message ids (`KEY/vVERSION`),
%% one a line, in the order issued (the version is not part of the key:
%% the last `/` of an id starts it). It is replaced durably once a close put
%% its items in the outbox. The first close of a period writes its ids as
%% the engine wrote them, with no id taken apart. Closing a period again
%% gives the same voids (the outbox skips those acknowledged before). A file
%% in the earlier form (an Erlang term of the keys) is read too.
-module(tally_reissue).

-export([voids/5, key_parts/1]).

%% The voids (outbox items) of `Version` of `Period`, given the message
%% ids of all its lines (binaries of `KEY/vVERSION` lines, each line ending
%% in a newline, as `aggregator_close_written` gives them), and `Record`,
%% which records the period's keys so far: call it once the lines and the
%% voids are in the outbox (a crash before it only means the same voids
%% are worked out again).
-spec voids(file:filename(), binary(), non_neg_integer(), binary(), [binary()]) ->
          {ok, [tally_outbox:item()], fun(() -> ok | {error, term()})} | {error, term()}.
voids(DataDir, Period, Version, Subject, IdBlobs) ->
    Path = filename:join([DataDir, "issued", binary_to_list(Period)]),
    case issued(Path) of
        {ok, none} ->
            %% Nothing issued before: nothing void, the ids recorded as they are.
            {ok, [], fun() when IdBlobs =:= [] -> ok;
                        () -> tally_files:write_durably(Path, IdBlobs)
                     end};
        {ok, {Issued, IssuedIds}} ->
            Ids = [Id || Blob <- IdBlobs, Id <- binary:split(Blob, <<"\n">>, [global, trim_all])],
            Current = maps:from_list([{key_of(Id), Id} || Id <- Ids]),
            Voids = [{tally_invoice:msg_id(K, Version), Subject, tally_invoice:void_to_json(K, key_parts(K), Version)}
                     || K <- lists:sort(maps:keys(Issued)), not is_map_key(K, Current)],
            New = [[Id, $\n] || Id <- Ids, not is_map_key(key_of(Id), Issued)],
            Record = fun() when New =:= [] -> ok;
                        () -> tally_files:write_durably(Path, [[[Id, $\n] || Id <- IssuedIds], New])
                     end,
            {ok, Voids, Record};
        {error, Reason} ->
            {error, {issued, Path, Reason}}
    end.

%% A message id's key: what comes before its last `/` (`/vVERSION`).
key_of(Id) ->
    {Last, 1} = lists:last(binary:matches(Id, <<"/">>)),
    binary:part(Id, 0, Last).

%% A key's five parts, percent-decoded (`billing::line_key` encodes them).
-spec key_parts(binary()) -> [binary()].
key_parts(Key) ->
    [decode(P, <<>>) || P <- binary:split(Key, <<"/">>, [global])].

decode(<<"%", H, L, Rest/binary>>, Acc) -> decode(Rest, <<Acc/binary, (binary_to_integer(<<H, L>>, 16))>>);
decode(<<C, Rest/binary>>, Acc) -> decode(Rest, <<Acc/binary, C>>);
decode(<<>>, Acc) -> Acc.

%% The keys issued so far (a map, for lookups) and their ids in file
%% order; none when nothing was.
issued(Path) ->
    case file:read_file(Path) of
        {ok, <<131, _/binary>> = Bin} ->
            %% The earlier form: a term of the keys (their versions unknown; any will do).
            Keys = lists:sort(maps:keys(binary_to_term(Bin, [safe]))),
            {ok, {maps:from_keys(Keys, true), [tally_invoice:msg_id(K, 0) || K <- Keys]}};
        {ok, Bin} ->
            Ids = binary:split(Bin, <<"\n">>, [global, trim_all]),
            {ok, {maps:from_keys([key_of(Id) || Id <- Ids], true), Ids}};
        {error, enoent} -> {ok, none};
        {error, _} = Error -> Error
    end.

%% @doc What a reissue replaces. A consumer keeps, per key, the line of the
%% highest version; so a new version of a period (`invoice_version`) needs
%% to say nothing about the lines it has again, but must say which lines of
%% earlier versions are gone (a customer now without a plan, a resource
%% without usage): for each such key it publishes a void of the new version
%% (`tally_invoice:void_to_json/3`, its fields the key's decoded parts).
%%
%% For that the keys a period ever issued are kept in
%% `data_dir/issued/PERIOD` (an Erlang term, replaced durably once a close
%% put its items in the outbox). Closing a period again gives the same
%% voids (the outbox skips those acknowledged before).
-module(tally_reissue).

-export([voids/5, key_parts/1]).

-type item() :: {Key :: binary(), Subject :: binary(), Payload :: binary()}.

%% The voids (outbox items) of `Version` of `Period`, given the outbox
%% items of all its lines (`{KEY/vVERSION, Subject, Json}`), and `Record`,
%% which records the period's keys so far: call it once the lines and the
%% voids are in the outbox (a crash before it only means the same voids
%% are worked out again).
-spec voids(file:filename(), binary(), non_neg_integer(), binary(), [item()]) ->
          {ok, [item()], fun(() -> ok | {error, term()})} | {error, term()}.
voids(DataDir, Period, Version, Subject, Items) ->
    Path = filename:join([DataDir, "issued", binary_to_list(Period)]),
    case issued(Path) of
        {ok, Issued} ->
            Suffix = byte_size(tally_invoice:msg_id(<<>>, Version)),
            Current = maps:from_keys([binary:part(Id, 0, byte_size(Id) - Suffix) || {Id, _, _} <- Items], true),
            Voids = [{tally_invoice:msg_id(K, Version), Subject, tally_invoice:void_to_json(K, key_parts(K), Version)}
                     || K <- lists:sort(maps:keys(Issued)), not is_map_key(K, Current)],
            All = maps:merge(Issued, Current),
            Record = fun() when map_size(All) =:= map_size(Issued) -> ok;
                        () -> tally_files:write_durably(Path, term_to_binary(All))
                     end,
            {ok, Voids, Record};
        {error, Reason} ->
            {error, {issued, Path, Reason}}
    end.

%% A key's five parts, percent-decoded (`billing::line_key` encodes them).
-spec key_parts(binary()) -> [binary()].
key_parts(Key) ->
    [decode(P, <<>>) || P <- binary:split(Key, <<"/">>, [global])].

decode(<<"%", H, L, Rest/binary>>, Acc) -> decode(Rest, <<Acc/binary, (binary_to_integer(<<H, L>>, 16))>>);
decode(<<C, Rest/binary>>, Acc) -> decode(Rest, <<Acc/binary, C>>);
decode(<<>>, Acc) -> Acc.

issued(Path) ->
    case file:read_file(Path) of
        {ok, Bin} -> {ok, binary_to_term(Bin, [safe])};
        {error, enoent} -> {ok, #{}};
        {error, _} = Error -> Error
    end.

%% @doc What tally/app/config.gleam cannot do itself: read the `tally`
%% application environment and the OS environment, see what kind of term a
%% sys.config value is (one level at a time; the decoding is Gleam's), and
%% split a NATS URL. No atom is made here: keys come back as text.
-module(tally_config_ffi).

-export([app_env/0, os_env/1, term/1, describe/1, parse_int/1, split_url/1, absname/2, put_current/2, get_current/1]).

-spec app_env() -> [{binary(), term()}].
app_env() ->
    [{atom_to_binary(K), V} || {K, V} <- application:get_all_env(tally), K =/= included_applications].

%% An unset or empty variable is none.
-spec os_env(binary()) -> {some, binary()} | none.
os_env(Name) ->
    case os:getenv(binary_to_list(Name)) of
        false -> none;
        "" -> none;
        Value -> {some, unicode:characters_to_binary(Value)}
    end.

%% Strings may be written as "charlists" or <<"binaries">> in sys.config;
%% both are text. [] is the empty list.
-spec term(term()) -> tuple() | term_other.
term(V) when is_integer(V) -> {term_int, V};
term(V) when is_boolean(V) -> {term_bool, V};
term(V) when is_atom(V) -> {term_atom, atom_to_binary(V)};
term(V) when is_binary(V) ->
    case unicode:characters_to_binary(V) of
        V -> {term_text, V};
        _ -> term_other
    end;
term([]) -> {term_list, []};
term(V) when is_list(V) ->
    case io_lib:printable_unicode_list(V) of
        true -> {term_text, unicode:characters_to_binary(V)};
        false ->
            case is_proper(V) of
                true -> {term_list, V};
                false -> term_other
            end
    end;
term(V) when is_map(V) -> {term_map, lists:sort(maps:to_list(V))};
term(_) -> term_other.

is_proper([]) -> true;
is_proper([_ | T]) -> is_proper(T);
is_proper(_) -> false.

%% A value as it would be written in sys.config, for an error message.
-spec describe(term()) -> binary().
describe(V) -> unicode:characters_to_binary(io_lib:format("~0tp", [V])).

-spec parse_int(binary()) -> {ok, integer()} | {error, nil}.
parse_int(Text) ->
    try binary_to_integer(Text) of N -> {ok, N}
    catch error:badarg -> {error, nil}
    end.

%% scheme://host[:port] -> {Scheme, Host, Port} (Port "" when absent).
-spec split_url(binary()) -> {ok, {binary(), binary(), binary()}} | {error, nil}.
split_url(Text) ->
    case binary:split(Text, <<"://">>) of
        [Scheme, Rest] ->
            case string:split(Rest, ":", trailing) of
                [Host, Port] -> {ok, {Scheme, Host, Port}};
                [Host] -> {ok, {Scheme, Host, <<>>}}
            end;
        _ -> {error, nil}
    end.

-spec absname(binary(), binary()) -> binary().
absname(Path, Base) -> unicode:characters_to_binary(filename:absname(Path, Base)).

%% The running system's configuration, read by many, written at each start
%% of the tree: a persistent term.
-spec put_current(term(), term()) -> nil.
put_current(Key, Config) -> persistent_term:put(Key, Config), nil.

-spec get_current(term()) -> {ok, term()} | {error, nil}.
get_current(Key) ->
    case persistent_term:get(Key, undefined) of
        undefined -> {error, nil};
        Config -> {ok, Config}
    end.

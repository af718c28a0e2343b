%% @doc Test support for the application's Gleam tests (tests/tally/app/):
%% a sys.config as written by an operator, from its text.
-module(tally_app_test_ffi).

-export([env/1, nomatch/0]).

%% "[{shards, 0}, ...]" -> [{<<"shards">>, 0}, ...], as the application
%% environment gives it to tally/app/config.
-spec env(binary()) -> [{binary(), term()}].
env(Text) ->
    {ok, Tokens, _} = erl_scan:string(binary_to_list(Text) ++ "."),
    {ok, Pairs} = erl_parse:parse_term(Tokens),
    [{atom_to_binary(K), V} || {K, V} <- Pairs].

-spec nomatch() -> nomatch.
nomatch() -> nomatch.

%% @doc Secrets (a NATS password or token) kept in a closure, so that a
%% process state, a supervisor's child spec or a crash report that prints
%% the term shows `#Fun<...>`, never the secret. Only the code that sends
%% it calls reveal/1.
-module(tally_secret).

-export([wrap/1, reveal/1]).

-opaque secret() :: fun(() -> binary()).
-export_type([secret/0]).

-spec wrap(binary() | secret()) -> secret().
wrap(Secret) when is_function(Secret, 0) -> Secret;
wrap(Secret) when is_binary(Secret) -> fun() -> Secret end.

%% The secret itself; a plain binary (a test's literal) is taken as it is.
-spec reveal(binary() | secret()) -> binary().
reveal(Secret) when is_function(Secret, 0) -> Secret();
reveal(Secret) when is_binary(Secret) -> Secret.

#!/bin/sh
# The entrypoint of ghostpeer-postgres (deploy/postgres/build-image.sh),
# run as `postgres`. On the first start, with an empty data directory (a new
# volume), it makes the cluster: superuser `postgres` reachable only from
# inside the container (peer), and the role `ghostpeer`, with the password
# of the passfile secret, owning the database `ghostpeer`. On every start it
# writes pg_hba.conf from GHOSTPEER_POSTGRES_CLIENTS and runs the server
# listening on GHOSTPEER_POSTGRES_LISTEN only.
#
# Environment:
#   GHOSTPEER_POSTGRES_LISTEN    addresses to listen on (listen_addresses):
#                                the node's swarm address (deploy/up.sh)
#   GHOSTPEER_POSTGRES_PORT      port, 5432
#   GHOSTPEER_POSTGRES_CLIENTS   CIDRs, space-separated, allowed to log in
#                                as ghostpeer (scram-sha-256): the swarm's
#                                nodes; nobody else gets a password prompt
#   GHOSTPEER_POSTGRES_PASSFILE  libpq passfile whose first line's password
#                                is ghostpeer's: the same secret the
#                                aggregators read (PGPASSFILE)
set -eu
die() { echo "postgres: $*" >&2; exit 1; }

data=${PGDATA:?}
listen=${GHOSTPEER_POSTGRES_LISTEN:?the address to listen on}
port=${GHOSTPEER_POSTGRES_PORT:-5432}
clients=${GHOSTPEER_POSTGRES_CLIENTS:?the client networks}
passfile=${GHOSTPEER_POSTGRES_PASSFILE:-/run/secrets/ghostpeer_postgres_passfile}
sockets=/var/run/postgresql

# These land in the server's configuration: refuse anything but their shapes.
case "$port" in '' | *[!0-9]*) die "GHOSTPEER_POSTGRES_PORT '$port' is not a port" ;; esac
case "$listen" in '' | *[!0-9A-Fa-f.:,]*) die "GHOSTPEER_POSTGRES_LISTEN '$listen' is not a list of addresses" ;; esac
for client in $clients; do
  case "$client" in
    *[!0-9A-Fa-f.:/]* | */*/* | /* | */) die "GHOSTPEER_POSTGRES_CLIENTS: '$client' is not ADDRESS/BITS" ;;
    */*) ;;
    *) die "GHOSTPEER_POSTGRES_CLIENTS: '$client' has no /BITS" ;;
  esac
done

if [ ! -s "$data/PG_VERSION" ]; then
  [ -r "$passfile" ] || die "cannot read the passfile $passfile (the secret ghostpeer_postgres_passfile)"
  # HOST:PORT:DATABASE:USER:PASSWORD, the password unescaped: refuse
  # backslashes rather than guess libpq's unescaping.
  line=$(grep -v '^#' "$passfile" | grep . | head -n 1 || true)
  case "$line" in *\\*) die "the passfile has a backslash: use a password without '\\' or ':'" ;; esac
  password=${line#*:*:*:*:}
  if [ -z "$password" ] || [ "$password" = "$line" ]; then
    die "the passfile's first line is not HOST:PORT:DATABASE:USER:PASSWORD"
  fi
  echo "postgres: first start: making the cluster in $data"
  initdb -D "$data" --username=postgres --auth-local=peer --auth-host=reject \
    --encoding=UTF8 --no-locale --no-instructions
  pg_ctl -D "$data" -w -o "-c listen_addresses= -c unix_socket_directories=$sockets -c port=$port" start
  # \getenv keeps the password out of every command line.
  GHOSTPEER_POSTGRES_PASSWORD=$password psql -X -q -v ON_ERROR_STOP=1 \
    -h "$sockets" -p "$port" -U postgres -d postgres <<'SQL'
\getenv password GHOSTPEER_POSTGRES_PASSWORD
SET password_encryption = 'scram-sha-256';
CREATE ROLE ghostpeer LOGIN PASSWORD :'password';
CREATE DATABASE ghostpeer OWNER ghostpeer;
REVOKE ALL ON DATABASE ghostpeer FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE ghostpeer TO ghostpeer;
SQL
  pg_ctl -D "$data" -w -m fast stop
  echo "postgres: role and database ghostpeer made"
fi

# Who may connect, rewritten at every start (deploy/up.sh passes the
# swarm's nodes again when they change).
{
  echo "# Written by /bin/entrypoint at every start; edits here are lost."
  echo "local all postgres peer"
  for client in $clients; do
    echo "host ghostpeer ghostpeer $client scram-sha-256"
  done
} >"$data/pg_hba.conf"

exec postgres -D "$data" \
  -c listen_addresses="$listen" -c port="$port" \
  -c unix_socket_directories="$sockets" \
  -c password_encryption=scram-sha-256 -c jit=off

// Package callbacks runs the user's postgresql.callbacks scripts as Patroni does:
// `<script...> <action> <role> <scope>`, asynchronously, one at a time. A new callback
// kills the one still running first (its whole process group); on_reload has its own
// lane and only replaces a previous on_reload. Output is logged line by line, exit codes
// are only logged, and a hanging script is killed after a timeout. Nothing here ever
// waits for a script, so the HA loop cannot be blocked by one.
package callbacks

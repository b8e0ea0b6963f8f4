#!/bin/sh
exec echo hello

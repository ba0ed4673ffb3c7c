#!/usr/bin/env node
// The npm entry point: dist/ is built by `npm install` (the prepare script).
import process from "node:process";
import { main } from "../dist/cli.js";

process.exitCode = await main(process.argv.slice(2));

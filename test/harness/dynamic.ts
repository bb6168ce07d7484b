// Load a serialized dynamic provider (the `__provider` input Pulumi stores in the state) the way Pulumi's
// dynamic-provider host does: compile the text as a module and call its exported handler.
import { strict as assert } from "node:assert";
import Module from "node:module";
import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";

export function loadSerializedProvider<T>(text: string): pulumi.dynamic.ResourceProvider<T> {
  const ModuleClass = Module as unknown as {
    new (id: string): {
      filename: string;
      paths: string[];
      exports: Record<string, () => unknown>;
      _compile(code: string, file: string): void;
    };
    _nodeModulePaths(dir: string): string[];
  };
  const loaded = new ModuleClass("");
  loaded.filename = "";
  loaded.paths = ModuleClass._nodeModulePaths(path.dirname(""));
  loaded._compile(text, "");
  const handler = loaded.exports["handler"];
  assert.ok(handler, "serialized provider exports no handler");
  return handler() as pulumi.dynamic.ResourceProvider<T>;
}

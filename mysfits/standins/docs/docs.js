// The local /docs page: renders /openapi.json with DOM calls only (text, never HTML from the document).
"use strict";

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function schemaName(schema) {
  return schema && schema.$ref ? schema.$ref.split("/").pop() : "";
}

function responsesTable(responses) {
  const table = element("table");
  const head = table.createTHead().insertRow();
  ["Status", "Description", "Body"].forEach((label) => head.appendChild(element("th", label)));
  const body = table.createTBody();
  Object.entries(responses).forEach(([status, response]) => {
    const row = body.insertRow();
    row.dataset.status = status;
    row.appendChild(element("td", status));
    row.appendChild(element("td", response.description || ""));
    const media = response.content && response.content["application/json"];
    row.appendChild(element("td", media ? schemaName(media.schema) : ""));
  });
  return table;
}

function renderOperations(document_, target) {
  Object.entries(document_.paths || {}).forEach(([path, methods]) => {
    Object.entries(methods).forEach(([method, operation]) => {
      const section = element("section", undefined, "operation");
      const heading = element("h2");
      heading.appendChild(element("span", method.toUpperCase(), "method"));
      heading.appendChild(element("span", path, "path"));
      section.appendChild(heading);
      if (operation.summary) section.appendChild(element("p", operation.summary));
      if (operation.description) section.appendChild(element("p", operation.description));
      const request = operation.requestBody && operation.requestBody.content;
      if (request && request["application/json"]) {
        section.appendChild(element("p", `Request body: ${schemaName(request["application/json"].schema)}`));
      }
      section.appendChild(responsesTable(operation.responses || {}));
      target.appendChild(section);
    });
  });
}

function renderSchemas(document_, target) {
  const schemas = (document_.components && document_.components.schemas) || {};
  Object.entries(schemas).forEach(([name, schema]) => {
    target.appendChild(element("h3", name));
    target.appendChild(element("pre", JSON.stringify(schema, null, 2)));
  });
}

async function main() {
  const status = document.getElementById("status");
  try {
    const response = await fetch("/openapi.json");
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const document_ = await response.json();
    document.getElementById("title").textContent = `${document_.info.title} ${document_.info.version}`;
    document.getElementById("description").textContent = document_.info.description || "";
    renderOperations(document_, document.getElementById("operations"));
    renderSchemas(document_, document.getElementById("schemas"));
    status.textContent = "";
  } catch (error) {
    status.textContent = `Could not load the OpenAPI document: ${error.message}`;
  }
}

main();

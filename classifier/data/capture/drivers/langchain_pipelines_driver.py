"""LangChain pipelines that hand one call's result to the next and never come back (single-turn at every call).

A history-aware RAG chain condenses the conversation into a standalone question, retrieves with it and
answers from the documents: the condensed question reaches a retriever and the answer goes to the person, so
no result returns to a model of a loop (unlike a condenser written for a running agent).
"""

from __future__ import annotations

from _common import run, session
from langchain_classic.chains import create_history_aware_retriever, create_retrieval_chain
from langchain_classic.chains.combine_documents import create_stuff_documents_chain
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.retrievers import BaseRetriever
from langchain_openai import ChatOpenAI

CONVERSATIONS = [
    ("Do you sell e-books?", "Yes, in three formats.", "Can I get my money back for one?"),
    ("I ordered a lamp last week.", "Thanks, I see the order.", "Can I still return it?"),
    ("Is support open on weekends?", "Only by email.", "How fast do they answer then?"),
    ("My ticket is INC-9.", "I see it, it's open.", "When will someone reply?"),
    ("I bought a used bike here.", "Great choice!", "Is it refundable?"),
    ("What's your refund policy?", "30 days for unused items.", "Does that include sale items?"),
]


class Docs(BaseRetriever):
    """A retriever over two fixed passages (no embeddings needed)."""

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [Document("Refunds within 30 days for unused items."), Document("Tickets answered within a day.")]


def rag(url: str, first: str, reply: str, question: str) -> None:
    llm = ChatOpenAI(model="gpt-4o-mini", base_url=url, api_key="sk-capture", max_retries=0)
    condense = ChatPromptTemplate.from_messages(
        [
            MessagesPlaceholder("chat_history"),
            ("human", "{input}"),
            ("human", "Given the conversation above, write a standalone search query for the last question."),
        ]
    )
    answer = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer the customer's question from the context only.\n\nContext:\n{context}"),
            MessagesPlaceholder("chat_history"),
            ("human", "{input}"),
        ]
    )
    retriever = create_history_aware_retriever(llm, Docs(), condense)
    chain = create_retrieval_chain(retriever, create_stuff_documents_chain(llm, answer))
    chain.invoke({"input": question, "chat_history": [HumanMessage(first), AIMessage(reply)]})


def main() -> None:
    for t, (first, reply, question) in enumerate(CONVERSATIONS):
        run(
            session("history_aware_rag", "single_turn", t),
            [{"text": "refund policy for returns"}, {"text": "Yes, within 30 days if unused."}],
            lambda url, a=first, b=reply, q=question: rag(url, a, b, q),
        )


if __name__ == "__main__":
    main()

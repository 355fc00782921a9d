//! Chatbots, their conversations and messages. A chatbot's provider cannot be deleted while the
//! chatbot uses it; deleting a chatbot deletes its conversations and their messages.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, double, integer, pk_uuid, string_len, string_len_null, text, text_null,
    timestamp_with_time_zone, uuid,
};

use crate::m20261126_000002_tenancy::Organizations;
use crate::m20261126_000007_providers::Providers;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Chatbots {
    Table,
    Id,
    OrgId,
    Name,
    Slug,
    ProviderId,
    Model,
    SystemPrompt,
    ToneKind,
    Tone,
    Temperature,
    MaxAnswerTokens,
    ContextWindow,
    TopK,
    MinScore,
    ScopeKind,
    ScopeValues,
    WelcomeMessage,
    FallbackAnswer,
    CitationStyle,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    OrgId,
    ChatbotId,
    OwnerKind,
    OwnerId,
    Title,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ChatMessages {
    Table,
    Id,
    OrgId,
    ConversationId,
    Role,
    Content,
    Citations,
    PromptTokens,
    CompletionTokens,
    LatencyMs,
    Incomplete,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Chatbots::Table)
                    .col(pk_uuid(Chatbots::Id))
                    .col(uuid(Chatbots::OrgId))
                    .col(string_len(Chatbots::Name, 100))
                    .col(string_len(Chatbots::Slug, 48))
                    .col(uuid(Chatbots::ProviderId))
                    .col(string_len_null(Chatbots::Model, 200))
                    .col(text(Chatbots::SystemPrompt))
                    .col(string_len(Chatbots::ToneKind, 16))
                    .col(text(Chatbots::Tone))
                    .col(double(Chatbots::Temperature))
                    .col(integer(Chatbots::MaxAnswerTokens))
                    .col(integer(Chatbots::ContextWindow))
                    .col(integer(Chatbots::TopK))
                    .col(double(Chatbots::MinScore))
                    .col(string_len(Chatbots::ScopeKind, 16))
                    .col(text(Chatbots::ScopeValues))
                    .col(text_null(Chatbots::WelcomeMessage))
                    .col(text(Chatbots::FallbackAnswer))
                    .col(string_len(Chatbots::CitationStyle, 16))
                    .col(timestamp_with_time_zone(Chatbots::CreatedAt))
                    .col(timestamp_with_time_zone(Chatbots::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_chatbots_org")
                            .from(Chatbots::Table, Chatbots::OrgId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_chatbots_provider")
                            .from(Chatbots::Table, Chatbots::ProviderId)
                            .to(Providers::Table, Providers::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_chatbots_org_slug")
                    .table(Chatbots::Table)
                    .col(Chatbots::OrgId)
                    .col(Chatbots::Slug)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_chatbots_provider")
                    .table(Chatbots::Table)
                    .col(Chatbots::ProviderId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Conversations::Table)
                    .col(pk_uuid(Conversations::Id))
                    .col(uuid(Conversations::OrgId))
                    .col(uuid(Conversations::ChatbotId))
                    .col(string_len(Conversations::OwnerKind, 16))
                    .col(uuid(Conversations::OwnerId))
                    .col(string_len(Conversations::Title, 200))
                    .col(timestamp_with_time_zone(Conversations::CreatedAt))
                    .col(timestamp_with_time_zone(Conversations::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversations_chatbot")
                            .from(Conversations::Table, Conversations::ChatbotId)
                            .to(Chatbots::Table, Chatbots::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_conversations_owner")
                    .table(Conversations::Table)
                    .col(Conversations::OrgId)
                    .col(Conversations::ChatbotId)
                    .col(Conversations::OwnerId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChatMessages::Table)
                    .col(pk_uuid(ChatMessages::Id))
                    .col(uuid(ChatMessages::OrgId))
                    .col(uuid(ChatMessages::ConversationId))
                    .col(string_len(ChatMessages::Role, 16))
                    .col(text(ChatMessages::Content))
                    .col(text(ChatMessages::Citations))
                    .col(big_integer(ChatMessages::PromptTokens))
                    .col(big_integer(ChatMessages::CompletionTokens))
                    .col(big_integer(ChatMessages::LatencyMs))
                    .col(boolean(ChatMessages::Incomplete))
                    .col(timestamp_with_time_zone(ChatMessages::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_chat_messages_conversation")
                            .from(ChatMessages::Table, ChatMessages::ConversationId)
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_chat_messages_conversation")
                    .table(ChatMessages::Table)
                    .col(ChatMessages::ConversationId)
                    .col(ChatMessages::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ChatMessages::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Conversations::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Chatbots::Table).to_owned())
            .await
    }
}
